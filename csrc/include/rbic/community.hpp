// Community detection (deterministic parallel Leiden), modularity and within-community centrality.
#pragma once

#include <cstdint>
#include <vector>

#include "rbic/graph.hpp"
#include "rbic/hooks.hpp"

namespace rbic::community {

enum class Objective { modularity, cpm };

/// Parameters of leiden_partition(); map 1:1 to rbic_fast.communities keyword arguments.
struct LeidenParams {
    double resolution = 1.0;                 ///< gamma of modularity or CPM
    Objective objective = Objective::modularity;
    std::uint64_t seed = 0;                  ///< node visiting orders derive from it
    int max_iterations = -1;                 ///< Leiden iterations; -1: until the partition is stable
    double target_size = 0.0;                ///< > 0: choose gamma so the median community size is near this
    int threads = 0;                         ///< 0: OpenMP default; the result never depends on it
};

struct LeidenResult {
    std::vector<std::int32_t> membership;            ///< labels 0..c-1, largest community first
    std::vector<std::vector<std::int32_t>> levels;   ///< fine to coarse, distinct; back() == membership
    std::int32_t n_communities = 0;
    double modularity = 0.0;   ///< Newman modularity of membership at `resolution` (gamma 1 for CPM)
    double resolution = 0.0;   ///< the resolution used (differs from the input when target_size > 0)
    int iterations = 0;        ///< Leiden iterations run (for the chosen resolution)
};

/// Leiden (Traag, Waltman & van Eck 2019): queue-based fast local moving, greedy refinement that
/// keeps every community connected, aggregation on the refined partition, repeated until stable.
/// The local moving evaluates batches of queued nodes in parallel against a snapshot and applies
/// them in queue order, recomputing any node whose neighbourhood changed meanwhile; the result is
/// exactly the sequential algorithm's, hence identical for a seed at every thread count.
/// `g` must pass graph::validate (the bindings call it first).
LeidenResult leiden_partition(const LeidenParams& params, const CsrGraph& g, const Hooks& hooks);

/// Newman modularity sum_c [in_c / 2m - gamma (tot_c / 2m)^2] in the adjacency-matrix convention
/// of CsrGraph. 0 for a graph without edges.
/// @param[in] membership n labels in [0, n)
double modularity(const CsrGraph& g, const std::int32_t* membership, double resolution, int threads);

enum class CentralityKind { degree, pagerank };

/// Centrality of each node inside its community, scaled so the community's maximum is 1.
/// degree: weighted degree to other members; pagerank: PageRank (damping 0.85) of the subgraph
/// induced by the community. Members of a community without internal edges all get 1.
/// @param[in] membership n labels in [0, n)
/// @param[out] out n values in [0, 1]
void centrality(const CsrGraph& g, const std::int32_t* membership, CentralityKind kind, float* out, int threads,
                const Hooks& hooks);

}  // namespace rbic::community
