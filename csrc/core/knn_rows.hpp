// Private: row checks and inverse norms shared by the exact (knn.cpp) and approximate
// (knn_approx.cpp) kNN graphs, so both reject the same inputs with the same messages.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "knn_kernels.hpp"
#include "rbic/hooks.hpp"
#include "rbic/types.hpp"

namespace rbic::knn::detail {

/// The fp32 kernels for an instruction-set cap (KnnParams::isa); throws on an unknown cap.
const Kernels& fp32_kernels(const std::string& isa);
/// The int8 (VNNI) kernels under that cap for d columns, or null when the CPU, the cap or d rules them out.
const Kernels* int8_kernels(const std::string& isa, std::int64_t d);

/// int8 codes of one row: a = row * inv (a[k] exact, in double), scale s = max|a| / 127, codes q = round(a / s)
/// (|q| <= 127, all 0 for a zero row) written as u8 q + 128 into codes[0, d). Returns s; `sum` gets the code
/// sum (the int8 kernels' correction term is 128 * sum).
inline float quantize_row(const float* row, float inv, std::int64_t d, double* a, std::uint8_t* codes,
                          std::int64_t& sum) {
    double amax = 0.0;
    for (std::int64_t k = 0; k < d; ++k) {
        a[k] = static_cast<double>(row[k]) * inv;  // exact: a product of two floats
        amax = std::max(amax, std::abs(a[k]));
    }
    const float sc = static_cast<float>(amax / 127.0);
    sum = 0;
    for (std::int64_t k = 0; k < d; ++k) {
        const int c = sc > 0.0f ? static_cast<int>(std::clamp(std::nearbyint(a[k] / sc), -127.0, 127.0)) : 0;
        codes[k] = static_cast<std::uint8_t>(c + 128);
        sum += c;
    }
    return sc;
}

/// Rows of u8 codes (rows x d4 words, consecutive) as the fixed side of BlockDotI8: transposed panels of kPanel
/// rows of s8 codes, into dst (zero padded by the caller: padded rows x d4 words).
inline void pack_code_panels(const std::uint32_t* codes, std::int64_t rows, std::int64_t d4, std::uint32_t* dst) {
    for (std::int64_t r = 0; r < rows; ++r) {
        const std::uint32_t* src = codes + r * d4;
        std::uint32_t* out = dst + (r / kPanel) * d4 * kPanel + r % kPanel;
        for (std::int64_t k = 0; k < d4; ++k) out[k * kPanel] = src[k] ^ 0x80808080u;  // u8 -> s8 code
    }
}

/// "3, 17, 42, ... (n more)": the first rows of a list, for error messages.
inline std::string list_rows(const std::vector<std::int64_t>& rows) {
    std::string s;
    const std::size_t shown = std::min<std::size_t>(rows.size(), 10);
    for (std::size_t i = 0; i < shown; ++i) s += (i ? ", " : "") + std::to_string(rows[i]);
    if (rows.size() > shown) s += ", ... (" + std::to_string(rows.size() - shown) + " more)";
    return s;
}

/// Row r of x as fp32: the row itself for float32, converted into `tmp` for float16 bits.
template <typename T>
const float* row_as_f32(MatrixView<const T> x, std::int64_t r, const Kernels& kern, std::vector<float>& tmp) {
    if constexpr (std::is_same_v<T, float>) {
        return x.row(r);
    } else {
        tmp.resize(x.cols);
        kern.fp16_to_f32(x.row(r), tmp.data(), x.cols);
        return tmp.data();
    }
}

/// 1 / |x_r| for every row (1 when !normalize). Throws std::invalid_argument naming the rows with
/// NaN/Inf (or a squared norm beyond float32) and, when normalising, the all-zero rows.
template <typename T>
std::vector<float> checked_inverse_norms(MatrixView<const T> x, bool normalize, int threads, const Hooks& hooks,
                                         const Kernels& kern) {
    const std::int64_t n = x.rows, d = x.cols;
    std::vector<float> inv(n, 1.0f);
    constexpr std::int64_t kChunk = 4096;
    const std::int64_t chunks = (n + kChunk - 1) / kChunk;
    std::vector<std::vector<std::int64_t>> bad(chunks), zero(chunks);
    const int nt = resolve_threads(threads);
    std::vector<std::vector<float>> tmp(nt);
    Hooks interrupt_only{hooks.interrupt, {}};
    parallel_for(chunks, nt, interrupt_only, [&](std::int64_t c, int tid) {
        for (std::int64_t r = c * kChunk; r < std::min(n, (c + 1) * kChunk); ++r) {
            const float* row = row_as_f32(x, r, kern, tmp[tid]);
            double ss = 0.0;
            for (std::int64_t k = 0; k < d; ++k) ss += static_cast<double>(row[k]) * row[k];
            // Also rejects finite rows whose fp32 dot products would overflow (|x|^2 > FLT_MAX).
            if (!(ss <= std::numeric_limits<float>::max())) {
                bad[c].push_back(r);
            } else if (normalize) {
                if (ss == 0.0) zero[c].push_back(r);
                else inv[r] = static_cast<float>(1.0 / std::sqrt(ss));
            }
        }
    });
    std::vector<std::int64_t> all_bad, all_zero;
    for (std::int64_t c = 0; c < chunks; ++c) {
        all_bad.insert(all_bad.end(), bad[c].begin(), bad[c].end());
        all_zero.insert(all_zero.end(), zero[c].begin(), zero[c].end());
    }
    if (!all_bad.empty()) {
        throw std::invalid_argument("embeddings has " + std::to_string(all_bad.size()) +
                                    " row(s) containing NaN or Inf (or with a squared norm above the float32 range): "
                                    "rows " +
                                    list_rows(all_bad) + ". Drop or re-embed these rows before building the kNN graph.");
    }
    if (!all_zero.empty()) {
        throw std::invalid_argument(
            "embeddings has " + std::to_string(all_zero.size()) + " all-zero row(s): rows " + list_rows(all_zero) +
            ". Cosine similarity is undefined for a zero vector: drop these rows, or pass normalize=False to "
            "rank by raw inner product.");
    }
    return inv;
}

// Both kNN methods keep each row's list sorted by (similarity desc, index asc): the tie rule that makes
// results independent of the order of offers.
inline bool ranks_before(float s, std::int32_t i, float t, std::int32_t j) { return s > t || (s == t && i < j); }

// Inserts (s, cand) into the sorted list S, I holding `count` of K entries; a full list drops its last.
// Returns false, changing nothing, when the list is full and (s, cand) does not rank before its last entry.
inline bool insert_sorted(float* S, std::int32_t* I, std::int32_t& count, std::int64_t K, float s, std::int32_t cand) {
    std::int64_t pos = count;
    if (pos == K) {
        if (!ranks_before(s, cand, S[K - 1], I[K - 1])) return false;
        pos = K - 1;
    } else {
        ++count;
    }
    while (pos > 0 && ranks_before(s, cand, S[pos - 1], I[pos - 1])) {
        S[pos] = S[pos - 1];
        I[pos] = I[pos - 1];
        --pos;
    }
    S[pos] = s;
    I[pos] = cand;
    return true;
}

// The checks every kNN entry point makes on its shapes: d >= 1, n fits int32 indices, 1 <= k <= the
// available neighbours, outputs n x k.
inline void check_shapes(std::int64_t n, std::int64_t d, std::int64_t k, bool exclude_self, std::int64_t out_rows_i,
                         std::int64_t out_cols_i, std::int64_t out_rows_s, std::int64_t out_cols_s) {
    if (d <= 0) throw std::invalid_argument("embeddings must have at least one column, got d=" + std::to_string(d));
    if (n > std::numeric_limits<std::int32_t>::max()) {
        throw std::invalid_argument("at most 2^31-1 rows are supported (indices are int32), got n=" + std::to_string(n));
    }
    const std::int64_t max_k = n - (exclude_self ? 1 : 0);
    if (k <= 0 || k > max_k) {
        throw std::invalid_argument("k must be in [1, " + std::to_string(max_k) + "] for n=" + std::to_string(n) +
                                    (exclude_self ? " with exclude_self" : "") + ", got k=" + std::to_string(k));
    }
    if (out_rows_i != n || out_cols_i != k || out_rows_s != n || out_cols_s != k) {
        throw std::invalid_argument("indices and similarities must be n x k");
    }
}

}  // namespace rbic::knn::detail
