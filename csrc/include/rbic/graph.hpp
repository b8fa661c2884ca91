// Weighted undirected graphs in CSR form, their validation, and propagation of node values.
#pragma once

#include <cstdint>

#include "rbic/hooks.hpp"
#include "rbic/types.hpp"

namespace rbic {

/// A read-only view of a weighted undirected graph stored as a symmetric CSR adjacency matrix A
/// (the caller owns the arrays). Row i lists the neighbours of node i in strictly increasing
/// order; A[i][j] == A[j][i] > 0. A diagonal entry A[i][i] is a self-loop and counts once in the
/// weighted degree k_i = sum_j A[i][j] (the adjacency-matrix convention; networkx/igraph count a
/// loop edge of weight w twice, i.e. as A[i][i] = 2w).
struct CsrGraph {
    std::int64_t n = 0;                      ///< number of nodes
    const std::int64_t* indptr = nullptr;    ///< n + 1 row offsets, indptr[0] == 0
    const std::int32_t* indices = nullptr;   ///< indptr[n] column indices
    const float* weights = nullptr;          ///< indptr[n] edge weights

    std::int64_t nnz() const { return n > 0 ? indptr[n] : 0; }
};

namespace graph {

/// Checks that `g` is a valid CsrGraph: monotone offsets, in-range strictly increasing column
/// indices, finite positive weights and symmetry (relative tolerance 1e-5).
/// @throws std::invalid_argument naming the first offending entry (lowest row) and the fix.
void validate(const CsrGraph& g, int threads);

/// Parameters of propagate(); map 1:1 to rbic_fast.propagate keyword arguments.
struct PropagateParams {
    double alpha = 0.9;   ///< weight of the neighbour average, in [0, 1]
    int iterations = 30;  ///< number of Jacobi sweeps, >= 0
    int threads = 0;      ///< 0: OpenMP default
};

/// Spreads per-node values from the known nodes to the others. With mu = mean of the known values,
/// f0 = values on known nodes and mu elsewhere, each sweep computes, for every unknown node u,
///   f_{t+1}[u] = alpha * sum_j A[u][j] f_t[j] / k_u + (1 - alpha) * mu      (k_u > 0)
///   f_{t+1}[u] = mu                                                        (k_u == 0)
/// and keeps known nodes clamped (Jacobi iteration of f = alpha D^-1 A f + (1 - alpha) mu on the
/// unknown block). Deterministic at any thread count (each node is a pure function of f_t).
/// @param[in] values n values; only entries with known[i] != 0 are read (they must be finite)
/// @param[in] known  n flags; at least one must be set
/// @param[out] out   n propagated values
void propagate(const PropagateParams& params, const CsrGraph& g, const float* values, const std::uint8_t* known,
               float* out, const Hooks& hooks);

}  // namespace graph
}  // namespace rbic
