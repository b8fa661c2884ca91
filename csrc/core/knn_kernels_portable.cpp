// Portable (any CPU) versions of the kNN inner kernels: the same chains as the AVX-512 kernels,
// without fused multiply-add.
#include <cstring>

#include "knn_kernels.hpp"

namespace rbic::knn::detail {
namespace {

// One chain a*b + acc per pair over k in order (no fused multiply-add, matching pair_dots).
void block_dot_f32(const float* const* vrows, const float* inv_v, std::int64_t nv, const float* panels,
                   const float* inv_f, std::int64_t nf, std::int64_t d, float* ct, std::int64_t ldc) {
    for (std::int64_t p = 0; p < nf / kPanel; ++p) {
        const float* panel = panels + p * d * kPanel;
        for (std::int64_t v = 0; v < nv; ++v) {
            const float* a = vrows[v];
            float acc[kPanel] = {};
            for (std::int64_t k = 0; k < d; ++k) {
                const float ak = a[k];
                const float* col = panel + k * kPanel;
                for (int c = 0; c < kPanel; ++c) acc[c] = ak * col[c] + acc[c];  // vectorises over c
            }
            float* out = ct + v * ldc + p * kPanel;
            for (int c = 0; c < kPanel; ++c) out[c] = acc[c] * (inv_v[v] * inv_f[p * kPanel + c]);
        }
    }
}

void pair_dots(const float* const* qs, const float* const* cands, std::int64_t m, std::int64_t d, float* out) {
    for (std::int64_t c = 0; c < m; ++c) {
        const float* q = qs[c];
        float acc = 0.0f;
        for (std::int64_t k = 0; k < d; ++k) acc = q[k] * cands[c][k] + acc;
        out[c] = acc;
    }
}

std::int64_t find_ge(const float* v, std::int64_t n, float thr, std::int32_t* out) {
    std::int64_t c = 0;
    for (std::int64_t p = 0; p < n; ++p) {
        if (v[p] >= thr) out[c++] = static_cast<std::int32_t>(p);
    }
    return c;
}

std::int64_t find_ge_vec(const float* v, const float* thr, std::int64_t n, std::int32_t* out) {
    std::int64_t c = 0;
    for (std::int64_t p = 0; p < n; ++p) {
        if (v[p] >= thr[p]) out[c++] = static_cast<std::int32_t>(p);
    }
    return c;
}

float half_to_float(std::uint16_t h) {
    std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    std::uint32_t exp = (h >> 10) & 0x1fu;
    std::uint32_t man = h & 0x3ffu;
    std::uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {  // subnormal: renormalise
            int e = -1;
            do {
                ++e;
                man <<= 1;
            } while ((man & 0x400u) == 0);
            bits = sign | (static_cast<std::uint32_t>(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

void fp16_to_f32(const std::uint16_t* src, float* dst, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) dst[i] = half_to_float(src[i]);
}

void f32_to_bf16(const float* src, std::uint16_t* dst, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
        std::uint32_t u;
        std::memcpy(&u, &src[i], sizeof u);
        u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even; inputs are finite
        dst[i] = static_cast<std::uint16_t>(u >> 16);
    }
}

}  // namespace

const Kernels& portable_kernels() {
    static const Kernels k{"portable", block_dot_f32, nullptr, nullptr, pair_dots, find_ge, find_ge_vec, fp16_to_f32,
                           f32_to_bf16};
    return k;
}

}  // namespace rbic::knn::detail
