// Skip-ahead helpers of the trace parser (private): find the next byte that can matter, 16 bytes at a time.
// Both are pure accelerations: they return the first position >= i whose byte the scalar code would not treat
// as a no-op, so results are identical with or without SSE2 (the scalar fallback checks byte by byte).
#pragma once

#include <cstdint>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "steps_utf8.hpp"

namespace rbic::steps::simd {

/// Scalar definition of a scan event at i (0 < i, i + 1 < n): see scan() in steps.cpp.
inline bool scan_event(const std::uint8_t* p, std::int64_t i) {
    const std::uint8_t b = p[i];
    if (b >= 0x80) return true;
    switch (b) {
        case '\n': case '\r': case '\\': case '$': case '<': case '=': case '.': case '!': case '?': return true;
        default: break;
    }
    const std::uint8_t prev = p[i - 1], next = p[i + 1];
    if (utf8::is_digit(b)) return !utf8::is_word(prev);
    if (utf8::is_letter(b))
        return !(utf8::is_letter(prev) || prev == '_' || prev == '\\') &&
               !(utf8::is_letter(next) || utf8::is_digit(next));
    return false;
}

/// True at a position where a marker may start: a word start, any non-ASCII lead byte.
inline bool marker_start(const std::uint8_t* p, std::int64_t i) {
    const std::uint8_t b = p[i];
    if (b >= 0xC0) return true;
    return utf8::is_word(b) && (i == 0 || !utf8::is_word(p[i - 1]));
}

#if defined(__SSE2__)
namespace detail {
inline __m128i in_range(__m128i x, char lo, char hi) {  // signed compare: bytes >= 0x80 are never in range
    return _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8(static_cast<char>(lo - 1))),
                         _mm_cmplt_epi8(x, _mm_set1_epi8(static_cast<char>(hi + 1))));
}
inline __m128i letter(__m128i x) { return in_range(_mm_or_si128(x, _mm_set1_epi8(0x20)), 'a', 'z'); }
inline __m128i digit(__m128i x) { return in_range(x, '0', '9'); }
inline __m128i eq(__m128i x, char c) { return _mm_cmpeq_epi8(x, _mm_set1_epi8(c)); }
inline __m128i word(__m128i x) { return _mm_or_si128(_mm_or_si128(letter(x), digit(x)), eq(x, '_')); }
inline int ctz(unsigned m) { return __builtin_ctz(m); }
}  // namespace detail
#endif

/// Number of ASCII letters in [p, p + n).
inline std::int64_t count_letters(const std::uint8_t* p, std::int64_t n) {
    std::int64_t total = 0, i = 0;
#if defined(__SSE2__)
    using namespace detail;
    while (i + 16 <= n) {
        // Byte lanes count up to 255 blocks, then psadbw folds them into two 64-bit sums.
        __m128i acc = _mm_setzero_si128();
        for (int k = 0; k < 255 && i + 16 <= n; ++k, i += 16)
            acc = _mm_sub_epi8(acc, letter(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i))));
        const __m128i sums = _mm_sad_epu8(acc, _mm_setzero_si128());
        total += _mm_cvtsi128_si32(sums) + _mm_extract_epi16(sums, 4);
    }
#endif
    for (; i < n; ++i) total += utf8::is_letter(p[i]);
    return total;
}

/// First i' >= i with scan_event(p, i'), or n.
inline std::int64_t next_scan_event(const std::uint8_t* p, std::int64_t n, std::int64_t i) {
#if defined(__SSE2__)
    using namespace detail;
    while (i >= 1 && i + 17 <= n) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
        const __m128i prev = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i - 1));
        const __m128i next = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 1));
        __m128i special = _mm_or_si128(_mm_or_si128(eq(x, '\n'), eq(x, '\r')), _mm_or_si128(eq(x, '\\'), eq(x, '$')));
        special = _mm_or_si128(special, _mm_or_si128(_mm_or_si128(eq(x, '<'), eq(x, '=')),
                                                     _mm_or_si128(eq(x, '.'), _mm_or_si128(eq(x, '!'), eq(x, '?')))));
        const __m128i nonascii = _mm_cmplt_epi8(x, _mm_setzero_si128());
        const __m128i num = _mm_andnot_si128(word(prev), digit(x));
        const __m128i ident_prev = _mm_or_si128(_mm_or_si128(letter(prev), eq(prev, '_')), eq(prev, '\\'));
        const __m128i alnum_next = _mm_or_si128(letter(next), digit(next));
        const __m128i ident = _mm_andnot_si128(_mm_or_si128(ident_prev, alnum_next), letter(x));
        const __m128i ev = _mm_or_si128(_mm_or_si128(special, nonascii), _mm_or_si128(num, ident));
        const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(ev));
        if (mask) return i + ctz(mask);
        i += 16;
    }
#endif
    for (; i < n; ++i) {
        if (i == 0 || i + 1 >= n) return i;  // the edges are left to the scalar code
        if (scan_event(p, i)) return i;
    }
    return n;
}

/// First i' >= i with marker_start(p, i'), or n.
inline std::int64_t next_marker_start(const std::uint8_t* p, std::int64_t n, std::int64_t i) {
#if defined(__SSE2__)
    using namespace detail;
    while (i >= 1 && i + 16 <= n) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
        const __m128i prev = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i - 1));
        // x >= 0xC0 (a lead byte) <=> (x ^ 0x80) > 0x3F as signed bytes.
        const __m128i lead = _mm_cmpgt_epi8(_mm_xor_si128(x, _mm_set1_epi8(static_cast<char>(0x80))),
                                             _mm_set1_epi8(0x3F));
        const __m128i start = _mm_andnot_si128(word(prev), word(x));
        const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(lead, start)));
        if (mask) return i + ctz(mask);
        i += 16;
    }
#endif
    for (; i < n; ++i)
        if (marker_start(p, i)) return i;
    return n;
}

}  // namespace rbic::steps::simd
