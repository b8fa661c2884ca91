// AVX2 kernels of the trace parser, chosen at run time (select_kernels) on CPUs with AVX2 but without AVX-512BW
// (AMD Zen 2/3, Intel client cores). Each gives exactly the result of its portable twin in steps_kernels.cpp /
// steps_simd.hpp: the same 64-byte blocks and bit logic (simd::block, simd::block_events), 32 bytes per vector,
// and the POPCNT instruction.
#include "steps_kernels.hpp"
#include "steps_simd.hpp"

#include <cstring>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define RBIC_STEPS_HAVE_AVX2 1
#include <immintrin.h>
#endif

namespace rbic::steps {

#ifdef RBIC_STEPS_HAVE_AVX2

#define RBIC_AVX2 __attribute__((target("avx2,popcnt")))

namespace {

using u8 = std::uint8_t;

RBIC_AVX2 inline __m256i load(const u8* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
RBIC_AVX2 inline __m256i eq(__m256i x, int c) { return _mm256_cmpeq_epi8(x, _mm256_set1_epi8(static_cast<char>(c))); }
RBIC_AVX2 inline __m256i any(__m256i a, __m256i b) { return _mm256_or_si256(a, b); }
// ASCII bytes in [lo, hi] (signed compares: bytes >= 0x80 are never in range).
RBIC_AVX2 inline __m256i in_range(__m256i x, char lo, char hi) {
    return _mm256_and_si256(_mm256_cmpgt_epi8(x, _mm256_set1_epi8(static_cast<char>(lo - 1))),
                            _mm256_cmpgt_epi8(_mm256_set1_epi8(static_cast<char>(hi + 1)), x));
}
// Bytes in [lo, lo + span] (unsigned).
RBIC_AVX2 inline __m256i in_range_u(__m256i x, int lo, int span) {
    const __m256i d = _mm256_sub_epi8(x, _mm256_set1_epi8(static_cast<char>(lo)));
    return _mm256_cmpeq_epi8(_mm256_min_epu8(d, _mm256_set1_epi8(static_cast<char>(span))), d);
}
// The 64 bits of a block from the byte masks of its two halves.
RBIC_AVX2 inline std::uint64_t bits(__m256i lo, __m256i hi) {
    return static_cast<std::uint32_t>(_mm256_movemask_epi8(lo)) |
           static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm256_movemask_epi8(hi))) << 32;
}

// simd::EventClasses of the 64 bytes q[0, 64).
RBIC_AVX2 inline simd::EventClasses event_classes(const u8* q) {
    __m256i v[10][2];
    for (int h = 0; h < 2; ++h) {
        const __m256i x = load(q + 32 * h);
        const __m256i bs = eq(x, '\\'), dollar = eq(x, '$'), e = eq(x, '='), gt = eq(x, '>'), lt = eq(x, '<');
        v[0][h] = in_range(_mm256_or_si256(x, _mm256_set1_epi8(0x20)), 'a', 'z');
        v[1][h] = in_range(x, '0', '9');
        v[2][h] = eq(x, '_');
        v[3][h] = bs;
        v[4][h] = any(any(bs, dollar), any(any(eq(x, '['), eq(x, ']')), any(eq(x, '('), eq(x, ')'))));
        v[5][h] = any(any(any(eq(x, '\n'), eq(x, '\r')), any(dollar, lt)), any(eq(x, '.'), any(eq(x, '!'), eq(x, '?'))));
        v[6][h] = x;  // (the sign bits)
        v[7][h] = e;
        v[8][h] = any(any(e, gt), any(lt, eq(x, '!')));
        v[9][h] = any(e, gt);
    }
    simd::EventClasses c;
    std::uint64_t* out[10] = {&c.letters, &c.digits,   &c.under, &c.backslash, &c.escaped,
                              &c.special, &c.nonascii, &c.eqs,   &c.before_eq, &c.after_eq};
    for (int k = 0; k < 10; ++k) *out[k] = bits(v[k][0], v[k][1]);
    return c;
}

// simd::detail::utf8_classes64 of the 64 bytes q[0, 64), given q[64] and q[65].
RBIC_AVX2 inline simd::Utf8Classes utf8_classes(const u8* q) {
    __m256i v[6][2];
    for (int h = 0; h < 2; ++h) {
        const __m256i x = load(q + 32 * h), x1 = load(q + 1 + 32 * h), x2 = load(q + 2 + 32 * h);
        const __m256i e3 = eq(x, 0xE3), ef = eq(x, 0xEF);
        const __m256i second_high = in_range_u(x1, 0xA0, 0x5F);  // A0..FF
        v[0][h] = in_range_u(x, 0x80, 0x3F);
        v[1][h] = in_range_u(x, 0xC2, 0x1D);
        v[2][h] = in_range_u(x, 0xE0, 0x0F);
        v[3][h] = any(any(in_range_u(x, 0xF0, 0x0F), in_range_u(x, 0xC0, 1)),
                      any(_mm256_andnot_si256(second_high, eq(x, 0xE0)),
                          _mm256_and_si256(second_high, eq(x, 0xED))));
        v[4][h] = any(any(in_range_u(x, 0xE5, 4), _mm256_and_si256(e3, in_range_u(x1, 0x90, 0x6F))),
                      any(_mm256_andnot_si256(eq(x1, 0xB7), eq(x, 0xE4)),
                          _mm256_and_si256(ef, in_range_u(x1, 0xA4, 7))));
        v[5][h] = any(_mm256_and_si256(e3, _mm256_and_si256(eq(x1, 0x80), eq(x2, 0x82))),
                      _mm256_and_si256(_mm256_and_si256(ef, eq(x1, 0xBC)),
                                       any(eq(x2, 0x81), eq(x2, 0x9F))));
    }
    simd::Utf8Classes u;
    u.cont = bits(v[0][0], v[0][1]);
    u.lead2 = bits(v[1][0], v[1][1]);
    u.lead3 = bits(v[2][0], v[2][1]);
    u.bad = bits(v[3][0], v[3][1]);
    u.cjk = bits(v[4][0], v[4][1]);
    u.sentence_end = bits(v[5][0], v[5][1]);
    return u;
}

struct Avx2Blocks {
    RBIC_AVX2 static simd::EventClasses classes(const u8* q) { return event_classes(q); }
    RBIC_AVX2 static simd::Utf8Classes utf8(const u8* q) { return utf8_classes(q); }
    RBIC_AVX2 static std::uint64_t nonascii(const u8* q) { return bits(load(q), load(q + 32)); }
};

// The portable kernel's blocks and bit logic (simd::event_masks_by_blocks), 32 bytes per vector.
RBIC_AVX2 void event_masks(const u8* p, std::int64_t n, std::uint64_t* masks, ByteCounts& counts) {
    simd::event_masks_by_blocks<Avx2Blocks>(p, n, masks, counts);
}

// Lanes [32 - r, 32) of a 32-byte vector: load(kLastLanes + r) (0 < r <= 32).
alignas(64) constexpr std::int8_t kLastLanes[64] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                     0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1,
                                                     -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                                     -1, -1, -1, -1, -1, -1, -1, -1};

// simd::ascii_signature, 32 bytes at a time; the last 1-31 bytes as the last lanes of one more vector (the
// vector that ends the text, or a copy of the text for a text under 32 bytes).
RBIC_AVX2 std::uint64_t ascii_signature(const u8* p, std::int64_t n) {
    std::uint64_t count = 0, squares = 0;
    __m256i sum = _mm256_setzero_si256();
    const __m256i ones = _mm256_set1_epi16(1);
    // The kept bytes of x among `lanes` (lower-cased), adding their count and sum, their squares to sq.
    auto add = [&](__m256i x, __m256i lanes, __m256i& sq) RBIC_AVX2 {
        const __m256i upper = in_range(x, 'A', 'Z');
        const __m256i low = _mm256_or_si256(x, _mm256_and_si256(upper, _mm256_set1_epi8(0x20)));
        const __m256i blank = any(eq(x, ' '), in_range(x, '\t', '\r'));
        const __m256i drop = any(any(blank, _mm256_cmpgt_epi8(_mm256_setzero_si256(), x)), _mm256_xor_si256(lanes, _mm256_set1_epi8(-1)));
        const __m256i kept = _mm256_andnot_si256(drop, low);
        count += static_cast<std::uint64_t>(__builtin_popcount(~static_cast<std::uint32_t>(_mm256_movemask_epi8(drop))));
        sum = _mm256_add_epi64(sum, _mm256_sad_epu8(kept, _mm256_setzero_si256()));
        sq = _mm256_add_epi32(sq, _mm256_madd_epi16(_mm256_maddubs_epi16(kept, kept), ones));
    };
    std::int64_t i = 0;
    do {
        // 32-bit lanes gain at most 2 * 2 * 127^2 per vector: 4096 vectors stay below 2^31.
        __m256i sq = _mm256_setzero_si256();
        for (int k = 0; k < 4096 && i + 32 <= n; ++k, i += 32) add(load(p + i), _mm256_set1_epi8(-1), sq);
        if (i + 32 > n && i < n) {
            const std::int64_t r = n - i;
            alignas(32) u8 buf[32] = {};
            if (n >= 32) {
                add(load(p + n - 32), load(reinterpret_cast<const u8*>(kLastLanes) + r), sq);
            } else {
                std::memcpy(buf + 32 - r, p, static_cast<std::size_t>(r));
                add(load(buf), load(reinterpret_cast<const u8*>(kLastLanes) + r), sq);
            }
            i = n;
        }
        alignas(32) std::uint32_t lanes[8];
        _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), sq);
        for (std::uint32_t v : lanes) squares += v;
    } while (i < n);
    alignas(32) std::uint64_t totals[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(totals), sum);
    const std::uint64_t total = totals[0] + totals[1] + totals[2] + totals[3];
    return ((count << 40) ^ total) + squares * 0x9E3779B97F4A7C15ull;
}

// The first '<' followed by 't' or '/', 32 positions at a time; the last positions from the 33 bytes that end the
// text (a text under 33 bytes: memchr, as the portable kernel).
RBIC_AVX2 std::int64_t find_tag(const u8* p, std::int64_t n) {
    auto hits = [p](std::int64_t at) RBIC_AVX2 {  // positions at, at + 32 (reads p[at, at + 33))
        const __m256i x = load(p + at), x1 = load(p + at + 1);
        return static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_and_si256(eq(x, '<'), any(eq(x1, 't'), eq(x1, '/')))));
    };
    if (n < 33) {
        for (std::int64_t i = 0; i < n;) {
            const void* q = std::memchr(p + i, '<', static_cast<std::size_t>(n - i));
            if (!q) break;
            i = static_cast<const u8*>(q) - p;
            if (i + 1 < n && (p[i + 1] == 't' || p[i + 1] == '/')) return i;
            ++i;
        }
        return n;
    }
    std::int64_t base = 0;
    for (; base + 33 <= n; base += 32)
        if (const std::uint32_t hit = hits(base)) return base + __builtin_ctz(hit);
    if (base < n - 1) {  // positions [base, n - 1): the last byte cannot start a tag
        const std::int64_t at = n - 33;
        if (const std::uint32_t hit = hits(at) & (~0u << (base - at))) return at + __builtin_ctz(hit);
    }
    return n;
}

const Kernels kAvx2{"avx2", event_masks, ascii_signature, find_tag};

}  // namespace

const Kernels* avx2_kernels() { return &kAvx2; }

#else

const Kernels* avx2_kernels() { return nullptr; }

#endif

}  // namespace rbic::steps
