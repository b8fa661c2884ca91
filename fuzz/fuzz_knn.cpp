// libFuzzer harness for the kNN graphs: small matrices of coarse values (many duplicate rows and tied
// similarities), odd widths, tiny blocks, every instruction-set cap, exact (fp32, bf16, int8) and approximate
// (fp32, int8) joins. Built and run by tools/fuzz.sh knn under AddressSanitizer + UndefinedBehaviorSanitizer with
// checked containers. Checked on every input: the same result at 1 and 2 threads; int8 == fp32 bit for bit (its
// certified bound); each exact row a true top-k against a double-precision brute force, sorted by descending
// similarity with ties by index; approximate rows valid, sorted and scored exactly as the exact graph scores the
// same pair.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "rbic/knn.hpp"
#include "rbic/knn_approx.hpp"

namespace {

using rbic::MatrixView;
using rbic::knn::Precision;

struct Graph {
    std::vector<std::int32_t> idx;
    std::vector<float> sim;
    std::string kernel;
    bool operator==(const Graph& o) const { return idx == o.idx && sim == o.sim; }
};

// The exact (KnnParams) or approximate (ApproxParams) graph of the n x d rows x.
template <typename Params>
Graph knn(const std::vector<float>& x, std::int64_t n, std::int64_t d, const Params& p) {
    Graph g;
    g.idx.resize(static_cast<std::size_t>(n * p.k));
    g.sim.resize(g.idx.size());
    const MatrixView<const float> rows(x.data(), n, d);
    if constexpr (std::is_same_v<Params, rbic::knn::ApproxParams>) {
        g.kernel = rbic::knn::knn_graph_approx(p, rows, {g.idx.data(), n, p.k}, {g.sim.data(), n, p.k}).kernel;
    } else {
        g.kernel = rbic::knn::knn_graph(p, rows, {g.idx.data(), n, p.k}, {g.sim.data(), n, p.k}).kernel;
    }
    return g;
}

// Rows sorted by descending similarity, ties by ascending index; indices distinct, in range, not the row itself
// when excluded.
void check_rows(const Graph& g, std::int64_t n, std::int64_t k, bool exclude_self) {
    for (std::int64_t i = 0; i < n; ++i) {
        for (std::int64_t a = 0; a < k; ++a) {
            const std::int32_t j = g.idx[i * k + a];
            if (j < 0 || j >= n || (exclude_self && j == i) || !std::isfinite(g.sim[i * k + a])) __builtin_trap();
            for (std::int64_t b = 0; b < a; ++b)
                if (g.idx[i * k + b] == j) __builtin_trap();
            if (a > 0) {
                const float s0 = g.sim[i * k + a - 1], s1 = g.sim[i * k + a];
                if (s1 > s0 || (s1 == s0 && g.idx[i * k + a - 1] > j)) __builtin_trap();
            }
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // data[0..4]: n, d, k, flags, approximate-join flags; the rest: the values, repeated as needed.
    if (size < 6) return 0;
    const std::int64_t n = 2 + data[0] % 70, d = 1 + data[1] % 40;
    const std::uint8_t flags = data[3], aflags = data[4];
    const bool exclude_self = !(flags & 1), normalize = !(flags & 2);
    const std::int64_t k = 1 + data[2] % std::min<std::int64_t>(n - exclude_self, 20);
    static const char* const kIsas[4] = {"auto", "portable", "avx512", "avx512_vnni"};
    const std::string isa = kIsas[(flags >> 2) & 3];
    const std::uint8_t* values = data + 5;
    const std::size_t n_values = size - 5;
    std::vector<float> x(static_cast<std::size_t>(n * d));  // exact size: ASan sees any overrun
    for (std::size_t t = 0; t < x.size(); ++t) x[t] = static_cast<float>(static_cast<std::int8_t>(values[t % n_values])) / 16.0f;
    if (normalize) {  // all-zero rows are refused (tested elsewhere): give each one a coordinate
        for (std::int64_t i = 0; i < n; ++i) {
            bool zero = true;
            for (std::int64_t c = 0; c < d; ++c) zero = zero && x[i * d + c] == 0.0f;
            if (zero) x[i * d + i % d] = 1.0f;
        }
    }

    rbic::knn::KnnParams p;
    p.k = static_cast<int>(k);
    p.exclude_self = exclude_self;
    p.normalize = normalize;
    p.isa = isa;
    p.block_rows = (flags & 16) ? 1 + data[2] % 24 : 0;  // many block pairs, odd edges
    p.threads = 1;
    const Graph ref = knn(x, n, d, p);
    check_rows(ref, n, k, exclude_self);
    p.threads = 2;
    if (!(knn(x, n, d, p) == ref)) __builtin_trap();
    p.threads = 1;
    p.precision = Precision::int8;
    const Graph i8 = knn(x, n, d, p);
    if (!(i8 == ref)) __builtin_trap();  // certified: the fp32 graph itself, wherever int8 ran or fell back
    p.precision = Precision::bf16;
    check_rows(knn(x, n, d, p), n, k, exclude_self);

    // The exact rows against a double-precision brute force: each similarity close to its pair's, and no row
    // misses a clearly better candidate.
    std::vector<double> inv(static_cast<std::size_t>(n), 1.0);
    if (normalize) {
        for (std::int64_t i = 0; i < n; ++i) {
            double s = 0.0;
            for (std::int64_t c = 0; c < d; ++c) s += static_cast<double>(x[i * d + c]) * x[i * d + c];
            inv[i] = 1.0 / std::sqrt(s);
        }
    }
    std::vector<double> all(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
        double scale = 0.0;  // the size of the terms: fp32 rounding stays far below 1e-5 of it
        for (std::int64_t j = 0; j < n; ++j) {
            double s = 0.0, a = 0.0;
            for (std::int64_t c = 0; c < d; ++c) {
                s += static_cast<double>(x[i * d + c]) * x[j * d + c];
                a += std::fabs(static_cast<double>(x[i * d + c]) * x[j * d + c]);
            }
            all[j] = (exclude_self && j == i) ? -INFINITY : s * inv[i] * inv[j];
            scale = std::max(scale, a * inv[i] * inv[j]);
        }
        const double tol = 1e-5 * (1.0 + scale);
        for (std::int64_t a = 0; a < k; ++a)
            if (std::fabs(ref.sim[i * k + a] - all[ref.idx[i * k + a]]) > tol) __builtin_trap();
        std::nth_element(all.begin(), all.begin() + (k - 1), all.end(), std::greater<double>());
        if (ref.sim[i * k + k - 1] < all[k - 1] - 2 * tol) __builtin_trap();  // the k-th best is no worse
    }

    if (aflags & 1) {
        rbic::knn::ApproxParams ap;
        ap.k = static_cast<int>(k);
        ap.exclude_self = exclude_self;
        ap.normalize = normalize;
        ap.isa = isa;
        ap.seed = aflags >> 4;
        ap.nlist = 1 + (aflags >> 1) % 8;
        ap.nprobe = (aflags & 16) ? 0 : 1 + (aflags >> 5) % 4;  // 0: tuned for target_recall
        ap.target_recall = 0.9;
        ap.recall_sample = (aflags & 32) ? 16 : 0;
        ap.precision = (aflags & 64) ? Precision::int8 : Precision::fp32;
        ap.threads = 1;
        const Graph a1 = knn(x, n, d, ap);
        check_rows(a1, n, k, exclude_self);
        ap.threads = 2;
        if (!(knn(x, n, d, ap) == a1)) __builtin_trap();
        // A pair in both graphs has the exact graph's fp32 score, bit for bit (same fp32 kernel set: the
        // approximate int8 join re-scores with the AVX-512 fp32 kernels).
        const bool same_kernels = (a1.kernel == "portable") == (ref.kernel == "portable");
        for (std::int64_t i = 0; i < n; ++i)
            for (std::int64_t a = 0; a < k; ++a)
                for (std::int64_t b = 0; b < k; ++b)
                    if (same_kernels && a1.idx[i * k + a] == ref.idx[i * k + b] && a1.sim[i * k + a] != ref.sim[i * k + b])
                        __builtin_trap();
    }
    return 0;
}
