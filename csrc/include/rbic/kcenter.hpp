// Greedy k-center (farthest-first traversal, Gonzalez 1985): a 2-approximation of the minimum
// covering radius, used as a coverage baseline selector.
#pragma once

#include <cstdint>

#include "rbic/hooks.hpp"
#include "rbic/types.hpp"

namespace rbic::select {

struct KCenterParams {
    std::int64_t k = 1;      ///< centres to pick, 1 <= k <= rows
    std::int64_t start = 0;  ///< index of the first centre
    int threads = 0;         ///< 0: OpenMP default
};

/// Picks k centres by farthest-first traversal under Euclidean distance: each step adds the point
/// farthest from the centres so far (ties: lowest index). Deterministic at any thread count.
/// @param[in] params k, first centre, threads.
/// @param[in] x points (rows x dim), finite.
/// @param[out] centres the k centre indices in pick order.
/// @param[out] radius radius[t] = covering radius max_i dist(i, centres[0..t]) after t+1 centres.
/// @param[out] min_dist distance of every point to its nearest centre after all k picks (rows).
/// @param[in] hooks interrupt (polled between steps) and progress (steps done, k).
void greedy_kcenter(const KCenterParams& params, MatrixView<const float> x, VectorView<std::int64_t> centres,
                    VectorView<float> radius, VectorView<float> min_dist, const Hooks& hooks);

}  // namespace rbic::select
