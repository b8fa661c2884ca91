// Private: the inner kernels of the kNN self-join, one set per instruction set.
// Deliberately free of STL templates: knn_kernels_avx512.cpp compiles these with AVX-512 target
// attributes, and an inline STL function instantiated there could be picked by the linker for
// callers on CPUs without AVX-512.
#pragma once

#include <cstdint>

namespace rbic::knn::detail {

// Register tile: kRowsV rows of the "varying" block (read in place, one element broadcast per
// step) against kPanel rows of the "fixed" block (packed transposed, a panel of kPanel columns).
constexpr int kRowsV = 12;
constexpr int kPanel = 32;

// Every pair similarity is one fused multiply-add chain over k = 0..d-1 in order, times
// (inv_a * inv_b). That expression is symmetric in its two rows and does not depend on where the
// pair sits in a block, so a pair's value is the same whichever block pair computes it: exact ties
// stay ties, results do not depend on blocking or threads, and pair_dots() reproduces it bit for
// bit (the bf16 path re-scores to exactly the fp32 path's values).

/// ct[v * ldc + f] = dot(vrows[v], fixed row f) * (inv_v[v] * inv_f[f]) for v < nv (a multiple of
/// kRowsV) and f < nf (a multiple of kPanel). `panels` holds the fixed rows as nf / kPanel panels
/// of d x kPanel floats (element (k, c) of panel p is row p * kPanel + c, column k).
using BlockDotF32 = void (*)(const float* const* vrows, const float* inv_v, std::int64_t nv, const float* panels,
                             const float* inv_f, std::int64_t nf, std::int64_t d, float* ct, std::int64_t ldc);
/// Same over bf16 pairs: rows are d2 = ceil(d / 2) uint32 words (two bf16, zero padded) and panels are
/// d2 x kPanel words.
using BlockDotBf16 = void (*)(const std::uint32_t* const* vrows, const float* inv_v, std::int64_t nv,
                              const std::uint32_t* panels, const float* inv_f, std::int64_t nf, std::int64_t d2,
                              float* ct, std::int64_t ldc);
/// Same over int8: vrows are the varying rows as d4 = ceil(d / 4) words of four u8 codes (q + 128),
/// panels the fixed rows as d4 x kPanel words of four s8 codes q (zero padded), corr_f[f] =
/// 128 * sum(q of fixed row f); ct = float(int32 dot - corr_f) * (scale_v * scale_f). The int32 dot is
/// exact (|dot| <= d * 255 * 127 < 2^31 for d <= 65536).
using BlockDotI8 = void (*)(const std::uint32_t* const* vrows, const float* scale_v, std::int64_t nv,
                            const std::uint32_t* panels, const std::int32_t* corr_f, const float* scale_f,
                            std::int64_t nf, std::int64_t d4, float* ct, std::int64_t ldc);
/// out[c] = the unscaled dot of rows qs[c] and cands[c] (c < m), bit-identical to BlockDotF32 of the same ISA.
using PairDots = void (*)(const float* const* qs, const float* const* cands, std::int64_t m, std::int64_t d,
                          float* out);
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
    BlockDotI8 block_dot_i8;      // null when the ISA has no int8 dot product (VNNI)
    PairDots pair_dots;
    FindGe find_ge;
    FindGeVec find_ge_vec;
    Fp16ToF32 fp16_to_f32;
    F32ToBf16 f32_to_bf16;
};

const Kernels& portable_kernels();
/// Null when the build has no AVX-512 kernels (non-x86 or a compiler without the intrinsics).
const Kernels* avx512_kernels();
const Kernels* avx512_bf16_kernels();
const Kernels* avx512_vnni_kernels();

}  // namespace rbic::knn::detail
