// AVX-512 kernels of the kNN self-join, chosen at run time (rbic::cpu_has_avx512*), so the default
// build stays portable. Only <immintrin.h> and C headers here: see knn_kernels.hpp.
#include "knn_kernels.hpp"

#include <algorithm>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define RBIC_KNN_HAVE_AVX512 1
#include <immintrin.h>
#endif

// GCC 12 reports -Wmaybe-uninitialized inside its own intrinsic headers (their "undefined" pass-
// through operands); nothing in this file reads an uninitialised value.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace rbic::knn::detail {

#ifdef RBIC_KNN_HAVE_AVX512

#define RBIC_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")))
#define RBIC_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c,avx512bf16")))
#define RBIC_AVX512_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c,avx512vnni")))

namespace {

template <typename Acc>
RBIC_AVX512 inline void store_tile(float* ct, std::int64_t ldc, const float* inv_v, const float* inv_f,
                                   const Acc& acc) {
    const __m512 f0 = _mm512_loadu_ps(inv_f), f1 = _mm512_loadu_ps(inv_f + 16);
#pragma GCC unroll 12
    for (int i = 0; i < kRowsV; ++i) {
        // inv_v * inv_f first: the scale of a pair is symmetric in its two rows.
        const __m512 v = _mm512_set1_ps(inv_v[i]);
        _mm512_storeu_ps(ct + i * ldc, _mm512_mul_ps(acc[i][0], _mm512_mul_ps(v, f0)));
        _mm512_storeu_ps(ct + i * ldc + 16, _mm512_mul_ps(acc[i][1], _mm512_mul_ps(v, f1)));
    }
}

// acc += u8 quads of `a` . s8 quads of `b` (vpdpbusd). In asm, because GCC 12 compiles the intrinsic's
// tied accumulator in a 12 x 2 register tile into copies and a stack spill of every accumulator per step
// (the int8 tile ran at ~60% of the instruction's rate); the asm operand keeps each one in its register.
RBIC_AVX512_VNNI inline void dpbusd(__m512i& acc, __m512i a, __m512i b) {
    asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
}

RBIC_AVX512 void block_dot_f32(const float* const* vrows, const float* inv_v, std::int64_t nv, const float* panels,
                               const float* inv_f, std::int64_t nf, std::int64_t d, float* ct, std::int64_t ldc) {
    for (std::int64_t p = 0; p < nf / kPanel; ++p) {
        const float* panel = panels + p * d * kPanel;
        for (std::int64_t v0 = 0; v0 < nv; v0 += kRowsV) {
            const float* A[kRowsV];
            for (int i = 0; i < kRowsV; ++i) A[i] = vrows[v0 + i];
            __m512 acc[kRowsV][2];
#pragma GCC unroll 12
            for (int i = 0; i < kRowsV; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
            for (std::int64_t k = 0; k < d; ++k) {
                const __m512 b0 = _mm512_loadu_ps(panel + k * kPanel);
                const __m512 b1 = _mm512_loadu_ps(panel + k * kPanel + 16);
#pragma GCC unroll 12
                for (int i = 0; i < kRowsV; ++i) {
                    const __m512 a = _mm512_set1_ps(A[i][k]);
                    acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
                    acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
                }
            }
            store_tile(ct + v0 * ldc + p * kPanel, ldc, inv_v + v0, inv_f + p * kPanel, acc);
        }
    }
}

RBIC_AVX512_BF16 void block_dot_bf16(const std::uint32_t* const* vrows, const float* inv_v, std::int64_t nv,
                                     const std::uint32_t* panels, const float* inv_f, std::int64_t nf,
                                     std::int64_t d2, float* ct, std::int64_t ldc) {
    for (std::int64_t p = 0; p < nf / kPanel; ++p) {
        const std::uint32_t* panel = panels + p * d2 * kPanel;
        for (std::int64_t v0 = 0; v0 < nv; v0 += kRowsV) {
            const std::uint32_t* A[kRowsV];
            for (int i = 0; i < kRowsV; ++i) A[i] = vrows[v0 + i];
            __m512 acc[kRowsV][2];
#pragma GCC unroll 12
            for (int i = 0; i < kRowsV; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
            for (std::int64_t k = 0; k < d2; ++k) {
                const __m512bh b0 = (__m512bh)_mm512_loadu_si512(panel + k * kPanel);
                const __m512bh b1 = (__m512bh)_mm512_loadu_si512(panel + k * kPanel + 16);
#pragma GCC unroll 12
                for (int i = 0; i < kRowsV; ++i) {
                    const __m512bh a = (__m512bh)_mm512_set1_epi32(static_cast<int>(A[i][k]));
                    acc[i][0] = _mm512_dpbf16_ps(acc[i][0], a, b0);
                    acc[i][1] = _mm512_dpbf16_ps(acc[i][1], a, b1);
                }
            }
            store_tile(ct + v0 * ldc + p * kPanel, ldc, inv_v + v0, inv_f + p * kPanel, acc);
        }
    }
}

RBIC_AVX512_VNNI void block_dot_i8(const std::uint32_t* const* vrows, const float* scale_v, std::int64_t nv,
                                   const std::uint32_t* panels, const std::int32_t* corr_f, const float* scale_f,
                                   std::int64_t nf, std::int64_t d4, float* ct, std::int64_t ldc) {
    for (std::int64_t p = 0; p < nf / kPanel; ++p) {
        const std::uint32_t* panel = panels + p * d4 * kPanel;
        const __m512i c0 = _mm512_loadu_si512(corr_f + p * kPanel), c1 = _mm512_loadu_si512(corr_f + p * kPanel + 16);
        for (std::int64_t v0 = 0; v0 < nv; v0 += kRowsV) {
            const std::uint32_t* A[kRowsV];
            for (int i = 0; i < kRowsV; ++i) A[i] = vrows[v0 + i];
            __m512i acc[kRowsV][2];
#pragma GCC unroll 12
            for (int i = 0; i < kRowsV; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_si512();
            for (std::int64_t k = 0; k < d4; ++k) {
                const __m512i b0 = _mm512_loadu_si512(panel + k * kPanel);
                const __m512i b1 = _mm512_loadu_si512(panel + k * kPanel + 16);
#pragma GCC unroll 12
                for (int i = 0; i < kRowsV; ++i) {
                    const __m512i a = _mm512_set1_epi32(static_cast<int>(A[i][k]));
                    dpbusd(acc[i][0], a, b0);
                    dpbusd(acc[i][1], a, b1);
                }
            }
            __m512 fac[kRowsV][2];
#pragma GCC unroll 12
            for (int i = 0; i < kRowsV; ++i) {
                fac[i][0] = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i][0], c0));
                fac[i][1] = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i][1], c1));
            }
            store_tile(ct + v0 * ldc + p * kPanel, ldc, scale_v + v0, scale_f + p * kPanel, fac);
        }
    }
}

// Transposes 16 rows of 16 floats in place: r[c] becomes column c (lane j = element c of row j).
RBIC_AVX512 inline void transpose16(__m512 r[16]) {
    __m512 a[16], b[16];
    for (int i = 0; i < 8; ++i) {  // lane L of a[2i] / a[2i+1]: rows 2i, 2i+1 interleaved, columns 4L..4L+1 / 4L+2..
        a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; ++i) {  // lane L of b[4i + j]: column 4L + j of rows 4i..4i+3
        const __m512d a0 = _mm512_castps_pd(a[4 * i]), a1 = _mm512_castps_pd(a[4 * i + 1]);
        const __m512d a2 = _mm512_castps_pd(a[4 * i + 2]), a3 = _mm512_castps_pd(a[4 * i + 3]);
        b[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
        b[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
        b[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
        b[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
    }
    for (int j = 0; j < 4; ++j) {  // column 4L + j: lane L of b[j], b[4 + j], b[8 + j], b[12 + j]
        const __m512 e = _mm512_shuffle_f32x4(b[j], b[4 + j], 0x44), f = _mm512_shuffle_f32x4(b[j], b[4 + j], 0xEE);
        const __m512 g = _mm512_shuffle_f32x4(b[8 + j], b[12 + j], 0x44), h = _mm512_shuffle_f32x4(b[8 + j], b[12 + j], 0xEE);
        r[j] = _mm512_shuffle_f32x4(e, g, 0x88);
        r[4 + j] = _mm512_shuffle_f32x4(e, g, 0xDD);
        r[8 + j] = _mm512_shuffle_f32x4(f, h, 0x88);
        r[12 + j] = _mm512_shuffle_f32x4(f, h, 0xDD);
    }
}

// Sixteen pairs at a time, one per lane: a 16 x 16 tile of the candidate rows (and of the query rows, unless all
// sixteen share one, as in the re-scoring of a row's candidates) is transposed so that lane j runs pair j's FMA
// chain in k order, the same chain as the scalar FMAs (and block_dot_f32); the last d % 16 terms continue it in
// scalar FMAs. Loads and FMAs are vector-wide: in the 200 000-row approximate int8 graph (d = 384) its perf
// samples were 45 % below the scalar version's (about 1.8x).
RBIC_AVX512 void pair_dots(const float* const* qs, const float* const* cands, std::int64_t m, std::int64_t d,
                           float* out) {
    const std::int64_t d16 = d & ~std::int64_t{15};
    for (std::int64_t c0 = 0; c0 < m; c0 += 16) {
        const std::int64_t lanes = std::min<std::int64_t>(16, m - c0);
        const float* Q[16];
        const float* C[16];
        bool one_query = true;
        for (int j = 0; j < 16; ++j) {  // (lanes past m repeat the last pair; their results are dropped)
            const std::int64_t c = c0 + std::min<std::int64_t>(j, lanes - 1);
            Q[j] = qs[c];
            C[j] = cands[c];
            one_query = one_query && Q[j] == Q[0];
        }
        __m512 acc = _mm512_setzero_ps();
        for (std::int64_t k0 = 0; k0 < d16; k0 += 16) {
            __m512 cv[16];
            for (int j = 0; j < 16; ++j) cv[j] = _mm512_loadu_ps(C[j] + k0);
            transpose16(cv);
            if (one_query) {
                for (int t = 0; t < 16; ++t) acc = _mm512_fmadd_ps(_mm512_set1_ps(Q[0][k0 + t]), cv[t], acc);
            } else {
                __m512 qv[16];
                for (int j = 0; j < 16; ++j) qv[j] = _mm512_loadu_ps(Q[j] + k0);
                transpose16(qv);
                for (int t = 0; t < 16; ++t) acc = _mm512_fmadd_ps(qv[t], cv[t], acc);
            }
        }
        alignas(64) float lane[16];
        _mm512_store_ps(lane, acc);
        for (std::int64_t j = 0; j < lanes; ++j) {
            float s = lane[j];
            for (std::int64_t k = d16; k < d; ++k) s = __builtin_fmaf(Q[j][k], C[j][k], s);
            out[c0 + j] = s;
        }
    }
}

RBIC_AVX512 std::int64_t find_ge(const float* v, std::int64_t n, float thr, std::int32_t* out) {
    const __m512 t = _mm512_set1_ps(thr);
    std::int64_t c = 0;
    for (std::int64_t p = 0; p < n; p += 16) {
        const __mmask16 valid = n - p >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << (n - p)) - 1u);
        unsigned m = _mm512_mask_cmp_ps_mask(valid, _mm512_maskz_loadu_ps(valid, v + p), t, _CMP_GE_OQ);
        while (m) {
            out[c++] = static_cast<std::int32_t>(p + __builtin_ctz(m));
            m &= m - 1;
        }
    }
    return c;
}

RBIC_AVX512 std::int64_t find_ge_vec(const float* v, const float* thr, std::int64_t n, std::int32_t* out) {
    std::int64_t c = 0;
    for (std::int64_t p = 0; p < n; p += 16) {
        const __mmask16 valid = n - p >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << (n - p)) - 1u);
        unsigned m = _mm512_mask_cmp_ps_mask(valid, _mm512_maskz_loadu_ps(valid, v + p),
                                             _mm512_maskz_loadu_ps(valid, thr + p), _CMP_GE_OQ);
        while (m) {
            out[c++] = static_cast<std::int32_t>(p + __builtin_ctz(m));
            m &= m - 1;
        }
    }
    return c;
}

RBIC_AVX512 void fp16_to_f32(const std::uint16_t* src, float* dst, std::int64_t n) {
    for (std::int64_t p = 0; p < n; p += 16) {
        const __mmask16 valid = n - p >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << (n - p)) - 1u);
        __m256i h = _mm256_maskz_loadu_epi16(valid, src + p);
        _mm512_mask_storeu_ps(dst + p, valid, _mm512_cvtph_ps(h));
    }
}

RBIC_AVX512_BF16 void f32_to_bf16(const float* src, std::uint16_t* dst, std::int64_t n) {
    for (std::int64_t p = 0; p < n; p += 16) {
        const __mmask16 valid = n - p >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << (n - p)) - 1u);
        __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(valid, src + p));
        _mm256_mask_storeu_epi16(dst + p, valid, (__m256i)h);
    }
}

}  // namespace

const Kernels* avx512_kernels() {
    static const Kernels k{"avx512", block_dot_f32, nullptr, nullptr, pair_dots, find_ge, find_ge_vec, fp16_to_f32,
                           portable_kernels().f32_to_bf16};
    return &k;
}

const Kernels* avx512_bf16_kernels() {
    static const Kernels k{"avx512_bf16", block_dot_f32, block_dot_bf16, nullptr, pair_dots, find_ge, find_ge_vec,
                           fp16_to_f32, f32_to_bf16};
    return &k;
}

const Kernels* avx512_vnni_kernels() {
    // f32_to_bf16 from the portable set: a VNNI CPU need not have AVX512_BF16 (the int8 path never calls it).
    static const Kernels k{"avx512_vnni", block_dot_f32, nullptr, block_dot_i8, pair_dots, find_ge, find_ge_vec,
                           fp16_to_f32, portable_kernels().f32_to_bf16};
    return &k;
}

#else

const Kernels* avx512_kernels() { return nullptr; }
const Kernels* avx512_bf16_kernels() { return nullptr; }
const Kernels* avx512_vnni_kernels() { return nullptr; }

#endif

}  // namespace rbic::knn::detail
