// Private: the inner kernels of the kNN self-join, one set per instruction set.
// Deliberately free of STL templates: knn_kernels_avx512.cpp compiles these with AVX-512 target
// attributes, and an inline STL function instantiated there could be picked by the linker for
// callers on CPUs without AVX-512.
#pragma once

#include <cstdint>

namespace rbic::knn::detail {

// Tile shape of the dot-product kernels: kTileA rows of the "A" block against kTileB rows of the
// "B" block per register tile. Row-pointer arrays are padded to these multiples with a zero row.
constexpr int kTileA = 4;
constexpr int kTileB = 6;
// bf16 rows are stored zero-padded to a multiple of this many elements.
constexpr int kBf16Pad = 32;

// Every pair similarity is (sum of 16 lane-wise fused multiply-add chains, reduced by one fixed
// tree) * (inv_a * inv_b). The expression is symmetric in its two rows and independent of where
// the pair sits in a tile, so a pair's value is the same whichever block computes it: exact ties
// stay ties, and the bf16 path re-scores to exactly the fp32 path's values.

/// ct[b * ldc + a] = dot(arows[a], brows[b]) * (inv_a[a] * inv_b[b]) for a < na, b < nb
/// (na a multiple of kTileA, nb of kTileB; ldc >= na).
using BlockDotF32 = void (*)(const float* const* arows, const float* inv_a, std::int64_t na,
                             const float* const* brows, const float* inv_b, std::int64_t nb, std::int64_t d,
                             float* ct, std::int64_t ldc);
/// Same over bf16 rows (uint16 bit patterns) of padded length d_pad (multiple of kBf16Pad).
using BlockDotBf16 = void (*)(const std::uint16_t* const* arows, const float* inv_a, std::int64_t na,
                              const std::uint16_t* const* brows, const float* inv_b, std::int64_t nb,
                              std::int64_t d_pad, float* ct, std::int64_t ldc);
/// The unscaled fp32 dot of one pair, bit-identical to what BlockDotF32 of the same ISA computes.
using PairDot = float (*)(const float* a, const float* b, std::int64_t d);
/// Writes out[p] = p for positions p < n with v[p] >= thr (or >= thr_vec[p]); returns the count.
using FindGe = std::int64_t (*)(const float* v, std::int64_t n, float thr, std::int32_t* out);
using FindGeVec = std::int64_t (*)(const float* v, const float* thr, std::int64_t n, std::int32_t* out);
/// float16 bits -> float32, and float32 -> bf16 bits (round to nearest even), n elements.
using Fp16ToF32 = void (*)(const std::uint16_t* src, float* dst, std::int64_t n);
using F32ToBf16 = void (*)(const float* src, std::uint16_t* dst, std::int64_t n);

struct Kernels {
    const char* name;
    BlockDotF32 block_dot_f32;
    BlockDotBf16 block_dot_bf16;  // null when the ISA has no bf16 dot product
    PairDot pair_dot;
    FindGe find_ge;
    FindGeVec find_ge_vec;
    Fp16ToF32 fp16_to_f32;
    F32ToBf16 f32_to_bf16;
};

const Kernels& portable_kernels();
/// Null when the build has no AVX-512 kernels (non-x86 or compiler without the intrinsics).
const Kernels* avx512_kernels();
const Kernels* avx512_bf16_kernels();

}  // namespace rbic::knn::detail
