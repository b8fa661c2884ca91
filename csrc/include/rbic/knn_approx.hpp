// Approximate cosine k-nearest-neighbour graph (all rows against all rows) for large n: an IVF
// partition from a seeded spherical k-means, then a self-join over pairs of nearby lists.
#pragma once

#include <cstdint>
#include <string>

#include "rbic/hooks.hpp"
#include "rbic/knn.hpp"
#include "rbic/types.hpp"

namespace rbic::knn {

/// Parameters of knn_graph_approx(); each maps 1:1 to a keyword of rbic_fast.knn_graph(method="approx").
struct ApproxParams {
    int k = 16;                ///< neighbours per row; 1 <= k <= n - exclude_self
    bool exclude_self = true;  ///< drop row i from its own neighbour list
    bool normalize = true;     ///< cosine (divide by row norms); false: raw inner products
    int threads = 0;           ///< 0: OpenMP default
    std::uint64_t seed = 0;    ///< seeds the k-means sample and init, and the recall sample
    std::int64_t nlist = 0;    ///< inverted lists (k-means centroids); 0 picks from n
    /// lists each list is joined with (itself included); 0: the smallest that reaches target_recall on
    /// 256 seeded rows checked exactly (4 when target_recall is 0)
    std::int64_t nprobe = 0;
    double target_recall = 0.95;  ///< recall@k that nprobe = 0 aims at, in [0, 1]
    int kmeans_iters = 6;      ///< Lloyd iterations of the coarse quantizer on its training sample
    std::int64_t train_per_list = 48;  ///< training sample = min(n, train_per_list * nlist) rows
    std::int64_t recall_sample = 0;    ///< rows checked exactly to estimate recall@k; 0: no estimate
    std::string isa = "auto";          ///< instruction-set cap, as KnnParams::isa
    /// fp32, or int8: the join scores pairs with int8 codes (AVX512_VNNI, about 4x the fp32 multiply-add
    /// rate), keeps k + 8 candidates per row and re-scores them in fp32 (returned similarities are fp32
    /// values either way); fp32 where the CPU or `isa` has no VNNI (ApproxRunInfo::kernel says which ran).
    Precision precision = Precision::fp32;
};

/// What a call ran, and how well.
struct ApproxRunInfo {
    std::string kernel;            ///< the join's kernels: "avx512_vnni" (int8), "avx512" or "portable"
    std::int64_t nlist = 0;        ///< lists actually used
    std::int64_t nprobe = 0;       ///< lists joined with each list
    double candidates = 0;         ///< mean rows scored per row (n would be the exact self-join)
    double recall = -1;            ///< estimated recall@k on recall_sample rows; -1 when not estimated
    std::int64_t recall_rows = 0;  ///< rows behind the estimate
};

/// Approximate top-k neighbours of every row of `x` by cosine similarity (inner product when
/// params.normalize is false).
///
/// A spherical k-means on a seeded sample of rows gives nlist centroids; every row goes to its most
/// similar centroid, and rows are copied list by list into one contiguous buffer. Each list is then
/// joined with the nprobe lists whose centroids are most similar to its own: every such list pair is
/// one blocked product (the exact path's fp32 microkernel, or its int8 one with Precision::int8, whose k + 8
/// best candidates per row are then re-scored in fp32) whose similarities feed the top-k lists of
/// the rows on both sides. Returned similarities are the exact path's fp32 values for the returned
/// pairs; rows are sorted by descending similarity, ties by ascending index; the result depends on the
/// seed but not on the thread count. Memory beyond the outputs: one fp32 copy of x plus O(n * k)
/// (int8: plus n * d bytes of codes and n * (k + 8) candidates).
/// Validates the input like knn_graph() (NaN/Inf rows, all-zero rows when normalising, k).
/// @param[in] params   see ApproxParams
/// @param[in] x        n x d float32 rows (e.g. a memory-mapped file)
/// @param[out] indices n x k neighbour row numbers
/// @param[out] similarities n x k similarities matching `indices`
/// @param[in] hooks    progress (in units of 2^20 multiply-adds) and interruption, polled on the caller
ApproxRunInfo knn_graph_approx(const ApproxParams& params, MatrixView<const float> x,
                               MatrixView<std::int32_t> indices, MatrixView<float> similarities,
                               const Hooks& hooks = {});

/// Same for IEEE float16 rows given as their uint16 bit patterns.
ApproxRunInfo knn_graph_approx(const ApproxParams& params, MatrixView<const std::uint16_t> x_fp16,
                               MatrixView<std::int32_t> indices, MatrixView<float> similarities,
                               const Hooks& hooks = {});

}  // namespace rbic::knn
