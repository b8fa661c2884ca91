// AVX-512BW kernels of the trace parser, chosen at run time (select_kernels), so the default build stays
// portable. Each gives exactly the result of its portable twin in steps_kernels.cpp / steps_simd.hpp.
#include "steps_kernels.hpp"
#include "steps_simd.hpp"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define RBIC_STEPS_HAVE_AVX512 1
#include <immintrin.h>
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace rbic::steps {

#ifdef RBIC_STEPS_HAVE_AVX512

#define RBIC_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,popcnt")))

namespace {

using u8 = std::uint8_t;

RBIC_AVX512 inline __mmask64 eq(__m512i x, char c) { return _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8(c)); }
// Bytes in [lo, lo + span] (unsigned).
RBIC_AVX512 inline __mmask64 in_range(__m512i x, char lo, char span) {
    return _mm512_cmple_epu8_mask(_mm512_sub_epi8(x, _mm512_set1_epi8(lo)), _mm512_set1_epi8(span));
}
RBIC_AVX512 inline __mmask64 inside(std::int64_t rem) { return rem >= 64 ? ~0ull : (1ull << rem) - 1; }

// Bits of the 64 positions from base on that lie inside [0, n) (none when base >= n).
RBIC_AVX512 inline __mmask64 inside_from(std::int64_t n, std::int64_t base) { return base < n ? inside(n - base) : 0; }

// simd::Utf8Classes of a block; x1 and x2 are the bytes one and two positions on (NUL past the end).
RBIC_AVX512 inline simd::Utf8Classes utf8_classes(__m512i x, __m512i x1, __m512i x2) {
    auto c = [](int v) { return static_cast<char>(v); };
    const std::uint64_t e3 = eq(x, c(0xE3)), ef = eq(x, c(0xEF));
    simd::Utf8Classes u;
    u.cont = in_range(x, c(0x80), 0x3F);
    u.lead2 = in_range(x, c(0xC2), 0x1D);
    u.lead3 = in_range(x, c(0xE0), 0x0F);
    u.bad = in_range(x, c(0xF0), 0x0F) | in_range(x, c(0xC0), 1) |
            (eq(x, c(0xE0)) & _mm512_cmplt_epu8_mask(x1, _mm512_set1_epi8(c(0xA0)))) |
            (eq(x, c(0xED)) & _mm512_cmpgt_epu8_mask(x1, _mm512_set1_epi8(c(0x9F))));
    u.cjk = in_range(x, c(0xE5), 4) | (e3 & _mm512_cmpge_epu8_mask(x1, _mm512_set1_epi8(c(0x90)))) |
            (eq(x, c(0xE4)) & ~eq(x1, c(0xB7))) | (ef & in_range(x1, c(0xA4), 7));
    u.sentence_end = (e3 & eq(x1, c(0x80)) & eq(x2, c(0x82))) | (ef & eq(x1, c(0xBC)) & (eq(x2, c(0x81)) | eq(x2, c(0x9F))));
    return u;
}

// One 64-byte block per iteration; the classes of the byte before a block carry over from the previous block,
// the byte after it is read directly (NUL past the end), as simd::block gives them to the other kernels.
// Non-ASCII text is decoded by masks while it stays valid 2/3-byte UTF-8; a text that is not gets every
// non-ASCII byte as an event instead (a second pass over its masks).
RBIC_AVX512 void event_masks(const u8* p, std::int64_t n, std::uint64_t* masks, ByteCounts& counts) {
    std::int64_t letters_total = 0, equals_total = 0, events_total = 0, cont_total = 0, cjk_total = 0;
    std::uint64_t carry_word = 0, carry_ident = 0, carry_before_eq = 0, carry_lead = 0, invalid = 0;
    for (std::int64_t base = 0; base < n; base += 64) {
        const __mmask64 in = inside(n - base);
        const __m512i x = _mm512_maskz_loadu_epi8(in, p + base);
        const std::uint64_t letters = in_range(_mm512_or_si512(x, _mm512_set1_epi8(0x20)), 'a', 25);
        const std::uint64_t digits = in_range(x, '0', 9);
        const std::uint64_t under = eq(x, '_'), backslash = eq(x, '\\');
        const std::uint64_t lt = eq(x, '<'), equal = eq(x, '='), gt = eq(x, '>');
        const std::uint64_t dollar = eq(x, '$');
        const std::uint64_t special = eq(x, '\n') | eq(x, '\r') | dollar | lt | eq(x, '.') | eq(x, '!') | eq(x, '?');
        const std::uint64_t escaped = backslash | dollar | eq(x, '[') | eq(x, ']') | eq(x, '(') | eq(x, ')');
        const std::uint64_t before_eq = equal | lt | gt | eq(x, '!'), after_eq = equal | gt;
        std::uint64_t nonascii = _mm512_movepi8_mask(x);
        if (nonascii | carry_lead) {
            const __m512i x1 = _mm512_maskz_loadu_epi8(inside_from(n, base + 1), p + base + 1);
            const __m512i x2 = _mm512_maskz_loadu_epi8(inside_from(n, base + 2), p + base + 2);
            const simd::Utf8Classes u = utf8_classes(x, x1, x2);
            invalid |= simd::utf8_invalid(u, in, carry_lead);
            cont_total += __builtin_popcountll(u.cont & in);
            cjk_total += __builtin_popcountll(u.cjk & in);
            nonascii = u.sentence_end;
        }
        const u8 z = base + 64 < n ? p[base + 64] : 0;
        const bool z_alnum = static_cast<u8>((z | 0x20) - 'a') <= 25 || static_cast<u8>(z - '0') <= 9;
        const std::uint64_t word = letters | digits | under, ident = letters | under | backslash;
        const std::uint64_t word_prev = word << 1 | carry_word;
        const std::uint64_t ident_prev = ident << 1 | carry_ident;
        const std::uint64_t alnum_next = (letters | digits) >> 1 | static_cast<std::uint64_t>(z_alnum) << 63;
        // A backslash matters only before \\ $ [ ] ( ) (simd::escape_follows), not before a command's letters.
        const std::uint64_t escape_next = escaped >> 1 | static_cast<std::uint64_t>(simd::escape_follows(z)) << 63;
        const std::uint64_t events = (special | nonascii | (backslash & escape_next) | (digits & ~word_prev) |
                                      (letters & ~ident_prev & ~alnum_next)) & in;
        masks[base / 64] = events;
        events_total += __builtin_popcountll(events);
        const std::uint64_t equals = equal & ~(before_eq << 1 | carry_before_eq) &
                                     ~(after_eq >> 1 | static_cast<std::uint64_t>(z == '=' || z == '>') << 63);
        letters_total += __builtin_popcountll(letters);
        equals_total += __builtin_popcountll(equals);
        carry_word = word >> 63;
        carry_ident = ident >> 63;
        carry_before_eq = before_eq >> 63;
    }
    counts.letters = letters_total;
    counts.equals = equals_total;
    counts.utf8_counted = !(invalid | carry_lead);  // (a lead in the last bytes of a text wants bytes past its end)
    if (!counts.utf8_counted) {
        for (std::int64_t base = 0; base < n; base += 64) {
            const std::uint64_t nonascii = _mm512_movepi8_mask(_mm512_maskz_loadu_epi8(inside(n - base), p + base));
            events_total += __builtin_popcountll(nonascii & ~masks[base / 64]);
            masks[base / 64] |= nonascii;
        }
        cont_total = cjk_total = 0;
    }
    counts.events = events_total;
    counts.continuations = cont_total;
    counts.cjk = cjk_total;
}

RBIC_AVX512 std::uint64_t ascii_signature(const u8* p, std::int64_t n) {
    std::uint64_t count = 0, squares = 0;
    __m512i sum = _mm512_setzero_si512();
    const __m512i ones = _mm512_set1_epi16(1);
    std::int64_t i = 0;
    while (i < n) {
        // 32-bit lanes gain at most 2 * 2 * 127^2 per block: 4096 blocks stay below 2^31.
        __m512i sq = _mm512_setzero_si512();
        for (int k = 0; k < 4096 && i < n; ++k, i += 64) {
            const __mmask64 in = inside(n - i);
            const __m512i x = _mm512_maskz_loadu_epi8(in, p + i);
            const __mmask64 upper = in_range(x, 'A', 25);
            const __m512i low = _mm512_mask_blend_epi8(upper, x, _mm512_or_si512(x, _mm512_set1_epi8(0x20)));
            const __mmask64 blank = eq(x, ' ') | in_range(x, '\t', 4);
            const __mmask64 keep = in & ~blank & ~_mm512_movepi8_mask(x);
            const __m512i kept = _mm512_maskz_mov_epi8(keep, low);
            count += static_cast<std::uint64_t>(__builtin_popcountll(keep));
            sum = _mm512_add_epi64(sum, _mm512_sad_epu8(kept, _mm512_setzero_si512()));
            sq = _mm512_add_epi32(sq, _mm512_madd_epi16(_mm512_maddubs_epi16(kept, kept), ones));
        }
        squares += static_cast<std::uint64_t>(
            _mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_cvtepu32_epi64(_mm512_castsi512_si256(sq)),
                                                     _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(sq, 1)))));
    }
    const std::uint64_t total = static_cast<std::uint64_t>(_mm512_reduce_add_epi64(sum));
    return ((count << 40) ^ total) + squares * 0x9E3779B97F4A7C15ull;
}

// One masked load per 64 bytes: no alignment prologue, which suits the short texts that are most calls here. The
// byte after a block is read directly, as in event_masks.
RBIC_AVX512 std::int64_t find_tag(const u8* p, std::int64_t n) {
    for (std::int64_t base = 0; base < n; base += 64) {
        const __m512i x = _mm512_maskz_loadu_epi8(inside(n - base), p + base);
        const u8 z = base + 64 < n ? p[base + 64] : 0;
        const std::uint64_t after = (eq(x, 't') | eq(x, '/')) >> 1 | static_cast<std::uint64_t>(z == 't' || z == '/') << 63;
        const std::uint64_t hit = eq(x, '<') & after;
        if (hit) return base + __builtin_ctzll(hit);
    }
    return n;
}

const Kernels kAvx512{"avx512", event_masks, ascii_signature, find_tag};

}  // namespace

const Kernels* avx512_kernels() { return &kAvx512; }

#else

const Kernels* avx512_kernels() { return nullptr; }

#endif

}  // namespace rbic::steps
