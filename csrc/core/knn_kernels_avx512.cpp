// AVX-512 kernels of the kNN self-join, chosen at run time (rbic::cpu_has_avx512*), so the default
// build stays portable. Only <immintrin.h> and C headers here: see knn_kernels.hpp.
#include "knn_kernels.hpp"

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

namespace {

// Sums of four 16-lane accumulators, one per output lane: per 128-bit quarter (l0 + l2) + (l1 + l3),
// then (q0 + q2) + (q1 + q3). pair_dot() below evaluates the same tree.
RBIC_AVX512 inline __m128 reduce4(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
    __m512 t0 = _mm512_add_ps(_mm512_unpacklo_ps(a0, a1), _mm512_unpackhi_ps(a0, a1));
    __m512 t1 = _mm512_add_ps(_mm512_unpacklo_ps(a2, a3), _mm512_unpackhi_ps(a2, a3));
    __m512 u = _mm512_add_ps(
        _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t1))),
        _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t1))));
    __m512 v = _mm512_add_ps(u, _mm512_shuffle_f32x4(u, u, 0x4E));
    return _mm_add_ps(_mm512_castps512_ps128(v), _mm512_extractf32x4_ps(v, 1));
}

RBIC_AVX512 inline void store_tile(float* ct, std::int64_t ldc, const float* inv_a, const float* inv_b,
                                   __m512 (&acc)[kTileA][kTileB]) {
    const __m128 ia = _mm_loadu_ps(inv_a);
#pragma GCC unroll 6
    for (int j = 0; j < kTileB; ++j) {
        __m128 s = reduce4(acc[0][j], acc[1][j], acc[2][j], acc[3][j]);
        // inv_a * inv_b first: the scale of a pair is symmetric in its two rows.
        __m128 scale = _mm_mul_ps(ia, _mm_set1_ps(inv_b[j]));
        _mm_storeu_ps(ct + j * ldc, _mm_mul_ps(s, scale));
    }
}

RBIC_AVX512 void block_dot_f32(const float* const* arows, const float* inv_a, std::int64_t na,
                               const float* const* brows, const float* inv_b, std::int64_t nb, std::int64_t d,
                               float* ct, std::int64_t ldc) {
    const std::int64_t dm = d & ~std::int64_t{15};
    const __mmask16 tail = static_cast<__mmask16>((1u << (d - dm)) - 1u);
    for (std::int64_t b0 = 0; b0 < nb; b0 += kTileB) {
        const float* B[kTileB];
        for (int j = 0; j < kTileB; ++j) B[j] = brows[b0 + j];
        for (std::int64_t a0 = 0; a0 < na; a0 += kTileA) {
            const float* A[kTileA];
            for (int i = 0; i < kTileA; ++i) A[i] = arows[a0 + i];
            __m512 acc[kTileA][kTileB];
#pragma GCC unroll 4
            for (int i = 0; i < kTileA; ++i)
#pragma GCC unroll 6
                for (int j = 0; j < kTileB; ++j) acc[i][j] = _mm512_setzero_ps();
            for (std::int64_t k = 0; k < dm; k += 16) {
                __m512 bv[kTileB];
#pragma GCC unroll 6
                for (int j = 0; j < kTileB; ++j) bv[j] = _mm512_loadu_ps(B[j] + k);
#pragma GCC unroll 4
                for (int i = 0; i < kTileA; ++i) {
                    __m512 av = _mm512_loadu_ps(A[i] + k);
#pragma GCC unroll 6
                    for (int j = 0; j < kTileB; ++j) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
                }
            }
            if (tail) {
                __m512 bv[kTileB];
#pragma GCC unroll 6
                for (int j = 0; j < kTileB; ++j) bv[j] = _mm512_maskz_loadu_ps(tail, B[j] + dm);
#pragma GCC unroll 4
                for (int i = 0; i < kTileA; ++i) {
                    __m512 av = _mm512_maskz_loadu_ps(tail, A[i] + dm);
#pragma GCC unroll 6
                    for (int j = 0; j < kTileB; ++j) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
                }
            }
            store_tile(ct + b0 * ldc + a0, ldc, inv_a + a0, inv_b + b0, acc);
        }
    }
}

RBIC_AVX512_BF16 void block_dot_bf16(const std::uint16_t* const* arows, const float* inv_a, std::int64_t na,
                                     const std::uint16_t* const* brows, const float* inv_b, std::int64_t nb,
                                     std::int64_t d_pad, float* ct, std::int64_t ldc) {
    for (std::int64_t b0 = 0; b0 < nb; b0 += kTileB) {
        const std::uint16_t* B[kTileB];
        for (int j = 0; j < kTileB; ++j) B[j] = brows[b0 + j];
        for (std::int64_t a0 = 0; a0 < na; a0 += kTileA) {
            const std::uint16_t* A[kTileA];
            for (int i = 0; i < kTileA; ++i) A[i] = arows[a0 + i];
            __m512 acc[kTileA][kTileB];
#pragma GCC unroll 4
            for (int i = 0; i < kTileA; ++i)
#pragma GCC unroll 6
                for (int j = 0; j < kTileB; ++j) acc[i][j] = _mm512_setzero_ps();
            for (std::int64_t k = 0; k < d_pad; k += 32) {
                __m512bh bv[kTileB];
#pragma GCC unroll 6
                for (int j = 0; j < kTileB; ++j) bv[j] = (__m512bh)_mm512_loadu_si512(B[j] + k);
#pragma GCC unroll 4
                for (int i = 0; i < kTileA; ++i) {
                    __m512bh av = (__m512bh)_mm512_loadu_si512(A[i] + k);
#pragma GCC unroll 6
                    for (int j = 0; j < kTileB; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], av, bv[j]);
                }
            }
            store_tile(ct + b0 * ldc + a0, ldc, inv_a + a0, inv_b + b0, acc);
        }
    }
}

RBIC_AVX512 float pair_dot(const float* a, const float* b, std::int64_t d) {
    const std::int64_t dm = d & ~std::int64_t{15};
    const __mmask16 tail = static_cast<__mmask16>((1u << (d - dm)) - 1u);
    __m512 acc = _mm512_setzero_ps();
    for (std::int64_t k = 0; k < dm; k += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), _mm512_loadu_ps(b + k), acc);
    if (tail) acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, a + dm), _mm512_maskz_loadu_ps(tail, b + dm), acc);
    alignas(64) float l[16];
    _mm512_store_ps(l, acc);
    float q[4];
    for (int i = 0; i < 4; ++i) q[i] = (l[4 * i] + l[4 * i + 2]) + (l[4 * i + 1] + l[4 * i + 3]);
    return (q[0] + q[2]) + (q[1] + q[3]);
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
    static const Kernels k{"avx512", block_dot_f32, nullptr, pair_dot, find_ge, find_ge_vec, fp16_to_f32,
                           portable_kernels().f32_to_bf16};
    return &k;
}

const Kernels* avx512_bf16_kernels() {
    static const Kernels k{"avx512_bf16", block_dot_f32, block_dot_bf16, pair_dot, find_ge, find_ge_vec,
                           fp16_to_f32, f32_to_bf16};
    return &k;
}

#else

const Kernels* avx512_kernels() { return nullptr; }
const Kernels* avx512_bf16_kernels() { return nullptr; }

#endif

}  // namespace rbic::knn::detail
