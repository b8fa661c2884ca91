// CSR graph validation.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "rbic/graph.hpp"

namespace rbic::graph {

namespace {

constexpr std::int64_t kRowsPerTask = 4096;

std::string entry(std::int64_t i, std::int64_t j) {
    return "(row " + std::to_string(i) + ", col " + std::to_string(j) + ")";
}

std::uint64_t mix(std::uint64_t z) {  // splitmix64 finaliser
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Order-independent fingerprint of one entry's unordered pair and exact weight.
std::uint64_t pair_hash(std::int64_t i, std::int64_t j, float w) {
    std::uint32_t bits;
    std::memcpy(&bits, &w, sizeof bits);
    const auto lo = static_cast<std::uint64_t>(std::min(i, j)), hi = static_cast<std::uint64_t>(std::max(i, j));
    return mix(mix(lo * 0x9E3779B97F4A7C15ull + hi) ^ bits);
}

// Empty string when row i is valid, else what is wrong with it. Symmetry is checked entry by entry
// (binary search into the transposed row) only when `symmetry` is set; otherwise the row adds the
// fingerprints of its upper and lower entries to `upper` / `lower`.
std::string check_row(const CsrGraph& g, std::int64_t i, bool symmetry, std::uint64_t& upper, std::uint64_t& lower) {
    const std::int64_t begin = g.indptr[i], end = g.indptr[i + 1];
    std::int64_t prev = -1;
    for (std::int64_t e = begin; e < end; ++e) {
        const std::int64_t j = g.indices[e];
        if (j < 0 || j >= g.n) {
            return "graph entry " + entry(i, j) + " has a column index outside [0, " + std::to_string(g.n) + ")";
        }
        if (j <= prev) {
            return "graph row " + std::to_string(i) +
                   " has unsorted or duplicate column indices; pass a canonical CSR matrix (A.sum_duplicates())";
        }
        prev = j;
        const float w = g.weights[e];
        if (!std::isfinite(w) || w < 0.0f) {
            std::ostringstream s;
            s << "graph entry " << entry(i, j) << " has weight " << w
              << ": edge weights must be finite and >= 0 (for cosine graphs drop negative similarities, "
                 "e.g. A.data[A.data < 0] = 0; A.eliminate_zeros())";
            return s.str();
        }
        if (w == 0.0f) {
            return "graph entry " + entry(i, j) + " has weight 0; remove zero entries (A.eliminate_zeros())";
        }
        if (!symmetry) {
            if (j > i) upper += pair_hash(i, j, w);
            if (j < i) lower += pair_hash(i, j, w);
            continue;
        }
        if (j <= i) continue;  // each pair is checked once, from its upper-triangle entry
        const std::int32_t* rb = g.indices + g.indptr[j];
        const std::int32_t* re = g.indices + g.indptr[j + 1];
        const std::int32_t* it = std::lower_bound(rb, re, static_cast<std::int32_t>(i));
        float wt = 0.0f;
        if (it != re && *it == i) wt = g.weights[g.indptr[j] + (it - rb)];
        if (!(std::fabs(w - wt) <= 1e-5f * std::max(std::fabs(w), std::fabs(wt)))) {
            std::ostringstream s;
            s << "graph is not symmetric: entry " << entry(i, j) << " = " << w << " but " << entry(j, i) << " = "
              << wt << "; pass a symmetric matrix, e.g. A.maximum(A.T) or (A + A.T) / 2";
            return s.str();
        }
    }
    return {};
}

}  // namespace

void validate(const CsrGraph& g, int threads) {
    if (g.n < 0) throw std::invalid_argument("graph: negative node count");
    if (g.n > std::numeric_limits<std::int32_t>::max()) {
        throw std::invalid_argument("graph: more than 2^31 - 1 nodes are not supported");
    }
    if (g.n == 0) return;
    if (g.indptr[0] != 0) throw std::invalid_argument("graph: indptr[0] must be 0");
    for (std::int64_t i = 0; i < g.n; ++i) {
        if (g.indptr[i + 1] < g.indptr[i]) {
            throw std::invalid_argument("graph: indptr decreases at row " + std::to_string(i));
        }
    }
    // First pass streams the arrays: exact symmetry holds iff the upper and lower triangles have the
    // same multiset of (pair, weight), which the sums of fingerprints detect. Only when they differ
    // does the second pass look up each transposed entry (tolerance 1e-5) to name the culprit.
    const std::int64_t tasks = (g.n + kRowsPerTask - 1) / kRowsPerTask;
    for (bool symmetry : {false, true}) {
        std::vector<std::string> errors(static_cast<std::size_t>(tasks));
        std::vector<std::uint64_t> upper(static_cast<std::size_t>(tasks), 0), lower(static_cast<std::size_t>(tasks), 0);
        parallel_for(tasks, threads, Hooks{}, [&](std::int64_t t, int) {
            const std::int64_t end = std::min(g.n, (t + 1) * kRowsPerTask);
            for (std::int64_t i = t * kRowsPerTask; i < end; ++i) {
                std::string err = check_row(g, i, symmetry, upper[t], lower[t]);
                if (!err.empty()) {
                    errors[static_cast<std::size_t>(t)] = std::move(err);
                    return;
                }
            }
        });
        for (const std::string& err : errors) {  // report the lowest offending row whatever the thread count
            if (!err.empty()) throw std::invalid_argument(err);
        }
        std::uint64_t up = 0, low = 0;
        for (std::int64_t t = 0; t < tasks; ++t) {
            up += upper[t];
            low += lower[t];
        }
        if (up == low) return;
    }
}

}  // namespace rbic::graph
