// The sparse adjacency matrix of a kNN graph (KnnGraph.to_csr): a counting sort of the directed edges
// (and their reverses) into rows, then each row sorted by column and its duplicate pairs merged.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "rbic/graph.hpp"

namespace rbic::graph {

std::int64_t knn_to_csr(const KnnCsrParams& params, MatrixView<const std::int32_t> neighbors,
                        MatrixView<const float> similarities, std::int64_t* indptr, std::int32_t* indices,
                        float* weights, const Hooks& hooks) {
    const std::int64_t n = neighbors.rows, k = neighbors.cols;
    if (similarities.rows != n || similarities.cols != k) {
        throw std::invalid_argument("similarities must have the shape of the neighbour indices");
    }
    const bool both = params.symmetrize != Symmetrize::none;
    const auto kept = [&](std::int64_t i, std::int64_t m) {
        const std::int32_t j = neighbors(i, m);
        if (j < 0 || j >= n) {
            throw std::invalid_argument("neighbour index " + std::to_string(j) + " at row " + std::to_string(i) +
                                        ", column " + std::to_string(m) + " is outside [0, " + std::to_string(n) +
                                        ")");
        }
        return j != i && (!params.has_min_similarity || similarities(i, m) >= params.min_similarity);
    };
    // 1. Row sizes before merging (a directed edge, and its reverse when symmetrising).
    std::vector<std::int64_t> start(n + 1, 0);
    for (std::int64_t i = 0; i < n; ++i) {
        for (std::int64_t m = 0; m < k; ++m) {
            if (!kept(i, m)) continue;
            ++start[i + 1];
            if (both) ++start[neighbors(i, m) + 1];
        }
    }
    for (std::int64_t i = 0; i < n; ++i) start[i + 1] += start[i];
    // 2. Counting sort into the output buffers (capacity start[n]).
    {
        std::vector<std::int64_t> fill(start.begin(), start.end() - 1);
        for (std::int64_t i = 0; i < n; ++i) {
            for (std::int64_t m = 0; m < k; ++m) {
                if (!kept(i, m)) continue;
                const std::int32_t j = neighbors(i, m);
                const float w = similarities(i, m);
                indices[fill[i]] = j;
                weights[fill[i]++] = w;
                if (!both) continue;
                indices[fill[j]] = static_cast<std::int32_t>(i);
                weights[fill[j]++] = w;
            }
        }
    }
    // 3. Each row sorted by column, duplicates merged in place; count[i] = its merged length.
    std::vector<std::int64_t> count(n, 0);
    constexpr std::int64_t kRowsPerTask = 4096;
    std::vector<std::vector<std::pair<std::int32_t, float>>> scratch(static_cast<std::size_t>(resolve_threads(params.threads)));
    parallel_for((n + kRowsPerTask - 1) / kRowsPerTask, params.threads, hooks, [&](std::int64_t t, int tid) {
        auto& row = scratch[tid];
        for (std::int64_t i = t * kRowsPerTask; i < std::min(n, (t + 1) * kRowsPerTask); ++i) {
            const std::int64_t b = start[i], e = start[i + 1];
            row.clear();
            for (std::int64_t q = b; q < e; ++q) row.emplace_back(indices[q], weights[q]);
            // by column, then weight: merging is then independent of the fill order
            std::sort(row.begin(), row.end());
            std::int64_t out = b;
            for (std::size_t q = 0; q < row.size();) {
                std::size_t r = q + 1;
                float w = row[q].second;
                while (r < row.size() && row[r].first == row[q].first) {
                    w = params.symmetrize == Symmetrize::mean ? w + row[r].second : std::max(w, row[r].second);
                    ++r;
                }
                if (params.symmetrize == Symmetrize::mean) w /= 2.0f;
                indices[out] = row[q].first;
                weights[out++] = w;
                q = r;
            }
            count[i] = out - b;
        }
    });
    // 4. Rows moved left into place (destinations never pass their sources).
    indptr[0] = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        const std::int64_t dst = indptr[i], src = start[i], len = count[i];
        if (dst != src) {
            std::copy(indices + src, indices + src + len, indices + dst);
            std::copy(weights + src, weights + src + len, weights + dst);
        }
        indptr[i + 1] = dst + len;
    }
    return indptr[n];
}

}  // namespace rbic::graph
