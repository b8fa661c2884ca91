// Exact cosine k-nearest-neighbour graph over the rows of a matrix (a self-join).
#pragma once

#include <cstdint>
#include <string>

#include "rbic/hooks.hpp"
#include "rbic/types.hpp"

namespace rbic::knn {

/// Arithmetic of the all-pairs similarity pass.
enum class Precision {
    fp32,  ///< exact fp32 dot products
    bf16,  ///< bf16 dot products (AVX512_BF16) shortlist k + margin candidates, re-scored in fp32
    /// int8 dot products (AVX512_VNNI) with a certified error bound: every row keeps all candidates
    /// that could be in its exact top-k, re-scored in fp32, so the result equals the fp32 path's.
    int8,
};

/// Parameters of knn_graph(); each maps 1:1 to a keyword of rbic_fast.knn_graph.
struct KnnParams {
    int k = 16;                  ///< neighbours per row; 1 <= k <= n - exclude_self
    bool exclude_self = true;    ///< drop row i from its own neighbour list
    bool normalize = true;       ///< cosine (divide by row norms); false: raw inner products
    Precision precision = Precision::fp32;
    int threads = 0;             ///< 0: OpenMP default
    /// Caps the instruction set the kernels may use: "auto", "avx512_bf16" (no VNNI), "avx512_vnni"
    /// (no BF16), "avx512" or "portable". Lets tests and benchmarks exercise the fallbacks on any CPU.
    std::string isa = "auto";
    int block_rows = 0;          ///< rows per block of the blocked self-join; 0 picks from d
};

/// What a call actually ran (the kernel may fall back from the requested precision).
struct KnnRunInfo {
    std::string kernel;       ///< "avx512_bf16", "avx512_vnni", "avx512" or "portable"
    double shortlist = 0;     ///< mean candidates per row re-scored in fp32 (k for the fp32 path)
    std::int64_t block_rows = 0;
};

/// Exact top-k neighbours of every row of `x` by cosine similarity (inner product when
/// params.normalize is false). Rows of the result are sorted by descending similarity, ties
/// by ascending index; the result does not depend on the thread count. Memory beyond the
/// outputs is O(n * shortlist + threads * block_rows * (block_rows + d)), plus n * d bytes of int8
/// codes for Precision::int8; the n x n matrix is never formed. Validates the input and throws std::invalid_argument naming NaN/Inf rows and, when
/// normalising, all-zero rows.
/// @param[in] params   see KnnParams
/// @param[in] x        n x d float32 rows (e.g. a memory-mapped file; read block by block)
/// @param[out] indices n x k neighbour row numbers
/// @param[out] similarities n x k similarities matching `indices`
/// @param[in] hooks    progress (in units of block pairs) and interruption, polled on the caller
KnnRunInfo knn_graph(const KnnParams& params, MatrixView<const float> x, MatrixView<std::int32_t> indices,
                     MatrixView<float> similarities, const Hooks& hooks = {});

/// Same for IEEE float16 rows given as their uint16 bit patterns; converted block by block.
KnnRunInfo knn_graph(const KnnParams& params, MatrixView<const std::uint16_t> x_fp16,
                     MatrixView<std::int32_t> indices, MatrixView<float> similarities, const Hooks& hooks = {});

}  // namespace rbic::knn
