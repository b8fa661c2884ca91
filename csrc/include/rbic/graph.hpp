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

/// How knn_to_csr() merges the two directions of a pair.
enum class Symmetrize {
    none,  ///< the directed graph: row i holds i's kept neighbours
    max,   ///< both (i, j) and (j, i) get the largest present directed weight (the union of directions)
    mean,  ///< both get (w_ij + w_ji) / 2, a missing direction counting 0: (A + A^T) / 2
};

/// Parameters of knn_to_csr(); map 1:1 to KnnGraph.to_csr keyword arguments.
struct KnnCsrParams {
    Symmetrize symmetrize = Symmetrize::max;
    bool has_min_similarity = false;  ///< drop directed edges below min_similarity first
    float min_similarity = 0.0f;
    int threads = 0;  ///< 0: OpenMP default
};

/// The sparse adjacency matrix of a kNN graph: directed edges i -> neighbors(i, m) (self loops and
/// edges below the minimum dropped), merged per `params.symmetrize`, rows sorted by column. The
/// result does not depend on the thread count.
/// @param[in] neighbors  n x k neighbour rows (each in [0, n))
/// @param[in] similarities n x k weights matching `neighbors`
/// @param[out] indptr    n + 1 row offsets
/// @param[out] indices   column indices; capacity n * k, or 2 * n * k when symmetrising
/// @param[out] weights   weights; same capacity as `indices`
/// @return the number of entries written (indptr[n])
/// @throws std::invalid_argument naming the first neighbour index outside [0, n)
std::int64_t knn_to_csr(const KnnCsrParams& params, MatrixView<const std::int32_t> neighbors,
                        MatrixView<const float> similarities, std::int64_t* indptr, std::int32_t* indices,
                        float* weights, const Hooks& hooks);

}  // namespace graph
}  // namespace rbic
