// SSE2 helpers of the trace parser (private), each with a scalar fallback giving identical results: the scan's
// skip-ahead (the first position whose byte the scalar code would not treat as a no-op), letter counts and
// the step signature used to find candidate duplicate steps.
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

/// Count (high 24 bits) and sum (low 40 bits) of the non-blank ASCII bytes of [p, p + n), lower-cased. Equal
/// normalised steps (blanks removed, ASCII lower-cased; non-ASCII left out) have equal signatures.
inline std::uint64_t ascii_signature(const std::uint8_t* p, std::int64_t n) {
    std::uint64_t count = 0, sum = 0;
    std::int64_t i = 0;
#if defined(__SSE2__)
    using namespace detail;
    while (i + 16 <= n) {
        __m128i cnt = _mm_setzero_si128(), total = _mm_setzero_si128();
        for (int k = 0; k < 255 && i + 16 <= n; ++k, i += 16) {
            const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
            const __m128i upper = in_range(x, 'A', 'Z');
            const __m128i low = _mm_or_si128(x, _mm_and_si128(upper, _mm_set1_epi8(0x20)));
            const __m128i blank = _mm_or_si128(_mm_or_si128(eq(x, ' '), eq(x, '\t')),
                                               _mm_or_si128(_mm_or_si128(eq(x, '\n'), eq(x, '\r')),
                                                            _mm_or_si128(eq(x, 0x0B), eq(x, 0x0C))));
            const __m128i keep = _mm_andnot_si128(_mm_or_si128(blank, _mm_cmplt_epi8(x, _mm_setzero_si128())),
                                                  _mm_set1_epi8(-1));
            cnt = _mm_sub_epi8(cnt, keep);
            total = _mm_add_epi64(total, _mm_sad_epu8(_mm_and_si128(low, keep), _mm_setzero_si128()));
        }
        const __m128i c = _mm_sad_epu8(cnt, _mm_setzero_si128());
        count += static_cast<std::uint64_t>(_mm_cvtsi128_si32(c) + _mm_extract_epi16(c, 4));
        sum += static_cast<std::uint64_t>(_mm_cvtsi128_si64(total)) +
               static_cast<std::uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(total, total)));
    }
#endif
    for (; i < n; ++i) {
        const std::uint8_t b = p[i];
        if (b < 0x80 && !utf8::ascii_blank(b)) {
            ++count;
            sum += utf8::lower(b);
        }
    }
    return (count << 40) ^ sum;
}

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

#if defined(__SSE2__)
namespace detail {
// Event bits of the 16 bytes at p + i (needs p[i - 1] and p[i + 16]).
inline unsigned event_mask16(const std::uint8_t* p, std::int64_t i) {
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
    return static_cast<unsigned>(_mm_movemask_epi8(ev));
}
}  // namespace detail
#endif

/// Finds scan events (positions where scan_event holds) in increasing order. The event bits of a 64-byte
/// window are computed once and reused by the following queries, since events depend on the bytes only.
class EventCursor {
public:
    EventCursor(const std::uint8_t* p, std::int64_t n) : p_(p), n_(n) {}

    /// First i' >= i with scan_event(p, i'), or n (positions 0 and n - 1 are always returned: edges).
    std::int64_t next(std::int64_t i) {
#if defined(__SSE2__)
        while (true) {
            if (i >= base_ && i < base_ + 64) {
                const std::uint64_t m = mask_ & (~0ull << (i - base_));
                if (m) return base_ + __builtin_ctzll(m);
                i = base_ + 64;
            }
            if (i < 1 || i + 65 > n_) break;
            base_ = i;
            mask_ = 0;
            for (int k = 0; k < 4; ++k)
                mask_ |= static_cast<std::uint64_t>(detail::event_mask16(p_, i + 16 * k)) << (16 * k);
        }
#endif
        for (; i < n_; ++i) {
            if (i == 0 || i + 1 >= n_) return i;  // the edges are left to the scalar code
            if (scan_event(p_, i)) return i;
        }
        return n_;
    }

private:
    const std::uint8_t* p_;
    std::int64_t n_;
    std::int64_t base_ = -1000;
    std::uint64_t mask_ = 0;
};

}  // namespace rbic::steps::simd
