// SSE2 helpers of the portable kernels of the trace parser (private; steps_kernels.cpp), each with a scalar
// fallback giving identical results: the scan's event bits (the positions whose byte the scalar code would not
// treat as a no-op) and the step signature used to find candidate duplicate steps.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "steps_utf8.hpp"

namespace rbic::steps::simd {

/// An equation sign at i of [0, n): '=' not after one of =<>! and not before = or >.
inline bool equation_sign(const std::uint8_t* p, std::int64_t i, std::int64_t n) {
    return p[i] == '=' && (i == 0 || (p[i - 1] != '=' && p[i - 1] != '<' && p[i - 1] != '>' && p[i - 1] != '!')) &&
           (i + 1 >= n || (p[i + 1] != '=' && p[i + 1] != '>'));
}

/// Scalar definition of a scan event at i (0 < i, i + 1 < n): see scan() in steps.cpp. ('=' is counted apart.)
inline bool scan_event(const std::uint8_t* p, std::int64_t i) {
    const std::uint8_t b = p[i];
    if (b >= 0x80) return true;
    switch (b) {
        case '\n': case '\r': case '\\': case '$': case '<': case '.': case '!': case '?': return true;
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
inline int ctz(unsigned m) { return __builtin_ctz(m); }
}  // namespace detail
#endif

/// Count, sum and sum of squares of the non-blank ASCII bytes of [p, p + n), lower-cased, mixed into 64 bits.
/// Equal normalised steps (blanks removed, ASCII lower-cased; non-ASCII left out) have equal signatures.
inline std::uint64_t ascii_signature(const std::uint8_t* p, std::int64_t n) {
    std::uint64_t count = 0, sum = 0, squares = 0;
    std::int64_t i = 0;
#if defined(__SSE2__)
    using namespace detail;
    while (i + 16 <= n) {
        // Byte lanes count up to 255 blocks; squares: 32-bit lanes of at most 255 * 2 * 127^2.
        __m128i cnt = _mm_setzero_si128(), total = _mm_setzero_si128(), sq = _mm_setzero_si128();
        for (int k = 0; k < 255 && i + 16 <= n; ++k, i += 16) {
            const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
            const __m128i upper = in_range(x, 'A', 'Z');
            const __m128i low = _mm_or_si128(x, _mm_and_si128(upper, _mm_set1_epi8(0x20)));
            const __m128i blank = _mm_or_si128(_mm_or_si128(eq(x, ' '), eq(x, '\t')),
                                               _mm_or_si128(_mm_or_si128(eq(x, '\n'), eq(x, '\r')),
                                                            _mm_or_si128(eq(x, 0x0B), eq(x, 0x0C))));
            const __m128i keep = _mm_andnot_si128(_mm_or_si128(blank, _mm_cmplt_epi8(x, _mm_setzero_si128())),
                                                  _mm_set1_epi8(-1));
            const __m128i kept = _mm_and_si128(low, keep);
            cnt = _mm_sub_epi8(cnt, keep);
            total = _mm_add_epi64(total, _mm_sad_epu8(kept, _mm_setzero_si128()));
            const __m128i lo16 = _mm_unpacklo_epi8(kept, _mm_setzero_si128());
            const __m128i hi16 = _mm_unpackhi_epi8(kept, _mm_setzero_si128());
            sq = _mm_add_epi32(sq, _mm_add_epi32(_mm_madd_epi16(lo16, lo16), _mm_madd_epi16(hi16, hi16)));
        }
        const __m128i c = _mm_sad_epu8(cnt, _mm_setzero_si128());
        count += static_cast<std::uint64_t>(_mm_cvtsi128_si32(c) + _mm_extract_epi16(c, 4));
        sum += static_cast<std::uint64_t>(_mm_cvtsi128_si64(total)) +
               static_cast<std::uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(total, total)));
        alignas(16) std::uint32_t lanes[4];
        _mm_store_si128(reinterpret_cast<__m128i*>(lanes), sq);
        squares += static_cast<std::uint64_t>(lanes[0]) + lanes[1] + lanes[2] + lanes[3];
    }
#endif
    for (; i < n; ++i) {
        const std::uint8_t b = p[i];
        if (b < 0x80 && !utf8::ascii_blank(b)) {
            const std::uint64_t v = utf8::lower(b);
            ++count;
            sum += v;
            squares += v * v;
        }
    }
    return ((count << 40) ^ sum) + squares * 0x9E3779B97F4A7C15ull;
}

#if defined(__SSE2__)
namespace detail {
// Event bits of the 64 bytes w[1, 65) (w[0] and w[65] are their neighbours). Each byte is classified once; the
// neighbour conditions come from the class bits shifted by one. `letters` receives the ASCII letter bits,
// `equals` the equation signs (equation_sign).
inline std::uint64_t event_mask64(const std::uint8_t* w, std::uint64_t& letters, std::uint64_t& equals) {
    letters = 0;
    std::uint64_t digits = 0, under = 0, backslash = 0, special = 0, nonascii = 0, eqs = 0, before_eq = 0, after_eq = 0;
    for (int k = 0; k < 4; ++k) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 1 + 16 * k));
        const __m128i bs = eq(x, '\\');
        __m128i sp = _mm_or_si128(_mm_or_si128(eq(x, '\n'), eq(x, '\r')), _mm_or_si128(bs, eq(x, '$')));
        sp = _mm_or_si128(sp, _mm_or_si128(eq(x, '<'), _mm_or_si128(eq(x, '.'), _mm_or_si128(eq(x, '!'), eq(x, '?')))));
        const __m128i e = eq(x, '='), gt = eq(x, '>');
        const int shift = 16 * k;
        auto bits = [](__m128i v) { return static_cast<std::uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(v))); };
        letters |= bits(letter(x)) << shift;
        digits |= bits(digit(x)) << shift;
        under |= bits(eq(x, '_')) << shift;
        backslash |= bits(bs) << shift;
        special |= bits(sp) << shift;
        nonascii |= bits(x) << shift;
        eqs |= bits(e) << shift;
        before_eq |= bits(_mm_or_si128(_mm_or_si128(e, gt), _mm_or_si128(eq(x, '<'), eq(x, '!')))) << shift;
        after_eq |= bits(_mm_or_si128(e, gt)) << shift;
    }
    const std::uint8_t a = w[0], z = w[65];
    equals = eqs & ~(before_eq << 1 | (a == '=' || a == '<' || a == '>' || a == '!')) &
             ~(after_eq >> 1 | static_cast<std::uint64_t>(z == '=' || z == '>') << 63);
    const std::uint64_t word_prev = (letters | digits | under) << 1 | utf8::is_word(a);
    const std::uint64_t ident_prev = (letters | under | backslash) << 1 | (utf8::is_letter(a) || a == '_' || a == '\\');
    const std::uint64_t alnum_next =
        (letters | digits) >> 1 | static_cast<std::uint64_t>(utf8::is_letter(z) || utf8::is_digit(z)) << 63;
    return special | nonascii | (digits & ~word_prev) | (letters & ~ident_prev & ~alnum_next);
}
}  // namespace detail
#endif

#if defined(__SSE2__)
namespace detail {
/// The bytes p[base - 1, base + 65) for a 64-byte window of [0, n), as a pointer to their first byte: the text
/// itself inside, else a zero-padded copy in `buf` (bytes outside [0, n) read as NUL).
inline const std::uint8_t* window(const std::uint8_t* p, std::int64_t n, std::int64_t base, std::uint8_t (&buf)[80]) {
    if (base >= 1 && base + 65 <= n) return p + base - 1;
    std::memset(buf, 0, sizeof buf);
    const std::int64_t lo = base >= 1 ? base - 1 : 0, hi = base + 79 < n ? base + 79 : n;
    if (hi > lo) std::memcpy(buf + (lo - (base - 1)), p + lo, static_cast<std::size_t>(hi - lo));
    return buf;
}
/// Bits of a 64-byte window starting at base that lie inside [0, n).
inline std::uint64_t inside(std::int64_t n, std::int64_t base) {
    return n - base >= 64 ? ~0ull : (1ull << (n - base)) - 1;
}
}  // namespace detail
#endif

// ---- Number tokens by mask arithmetic (scan() takes them from these masks instead of one event each) ----

/// The byte classes of one 64-byte block that the number masks need (bit k: byte k of the block, NUL past the
/// text), and the two bytes after the block.
struct NumberClasses {
    std::uint64_t digits = 0, word = 0, dots = 0, equal = 0;
    std::uint64_t blank = 0;              ///< ' ', '\t', 0x0B, 0x0C and '$': skipped before a result's '='
    std::uint64_t c2 = 0, a0 = 0, e3 = 0, x80 = 0;  ///< the bytes of the wide spaces U+00A0 (C2 A0), U+3000 (E3 80 80)
    std::uint8_t next1 = 0, next2 = 0;
};

/// Number bits of one block (bit k: byte k of the block): `starts` where a number token starts, `ends` the byte
/// after its last one (the ends of a text's numbers pair in order with its starts; an end can lie in the block
/// after), `defs` the starts whose byte before, skipping blanks, '$' and wide spaces, is '=' (a result).
struct NumberBits {
    std::uint64_t starts, ends, defs;
};

/// What a block passes to the next one.
struct NumberCarry {
    std::uint64_t word = 0;      ///< the last byte is a word character
    std::uint64_t int_run = 0;   ///< a number's integer digits run to the end of the block
    std::uint64_t frac_run = 0;  ///< a number's decimal digits run to the end of the block
    std::uint64_t point = 0;     ///< the last byte is a number's decimal point
    std::uint64_t reach = 0;     ///< the next byte's previous non-blank byte is '='
    std::uint64_t wide = 0;      ///< bits of the next block inside a wide space that starts in this one
};

/// The number tokens of scan() in one block, from its classes: a digit not after a word character starts a
/// number; its digit run, with one ".digits" after it, is the token. The digits of such a decimal part start no
/// number of their own, so "1.2.3" is "1.2" and "3" (where a decimal part is followed by ".digits", which runs
/// are decimal parts is found by iterating to the fixed point: rare). `dropped` receives the event bits scan() no
/// longer needs (number starts, decimal points).
inline NumberBits number_block(const NumberClasses& k, NumberCarry& c, std::uint64_t& dropped) {
    const std::uint64_t d = k.digits;
    const std::uint64_t starts_any = d & ~(k.word << 1 | c.word);  // numbers and decimal parts
    const std::uint64_t digit_next = d >> 1 | static_cast<std::uint64_t>(utf8::is_digit(k.next1)) << 63;
    // Adding a run's first bit to the digit mask carries to the byte after the run: that is where it ends.
    auto run_ends = [d](std::uint64_t first, std::uint64_t carry_in, std::uint64_t& carry_out) {
        const std::uint64_t sum = d + (first | carry_in);
        carry_out = sum < d;
        return sum & ~d;
    };
    // Taking every run of starts_any for an integer part is right unless a decimal part is followed by ".digits".
    std::uint64_t any_carry, frac_carry;
    std::uint64_t ends = run_ends(starts_any, c.int_run | c.frac_run, any_carry);
    std::uint64_t points = ends & k.dots & digit_next;
    std::uint64_t frac_first = (points << 1 | c.point) & d;
    std::uint64_t starts = starts_any & ~frac_first;
    if (__builtin_expect((run_ends(frac_first, c.frac_run, frac_carry) & points) != 0, 0)) {
        for (;;) {
            std::uint64_t int_carry;
            const std::uint64_t int_ends = run_ends(starts, c.int_run, int_carry);
            points = int_ends & k.dots & digit_next;
            frac_first = (points << 1 | c.point) & d;
            const std::uint64_t next = starts_any & ~frac_first;
            if (next == starts) {
                ends = (int_ends & ~points) | run_ends(frac_first, c.frac_run, frac_carry);
                any_carry = int_carry | frac_carry;
                break;
            }
            starts = next;
        }
    } else {
        ends &= ~points;
    }
    // Bytes skipped before a result's '=': blanks, '$' and whole wide spaces (which can straddle blocks).
    const std::uint64_t w2 = k.c2 & (k.a0 >> 1 | static_cast<std::uint64_t>(k.next1 == 0xA0) << 63);
    const std::uint64_t x80_1 = k.x80 >> 1 | static_cast<std::uint64_t>(k.next1 == 0x80) << 63;
    const std::uint64_t x80_2 = k.x80 >> 2 | static_cast<std::uint64_t>(k.next1 == 0x80) << 62 |
                                static_cast<std::uint64_t>(k.next2 == 0x80) << 63;
    const std::uint64_t w3 = k.e3 & x80_1 & x80_2;
    const std::uint64_t skip = k.blank | w2 | w2 << 1 | w3 | w3 << 1 | w3 << 2 | c.wide;
    // Positions whose previous non-skipped byte is '=': from the byte after each '=', carried through the run of
    // skipped bytes that starts there (each run has at most one such bit, at its start).
    const std::uint64_t after_eq = k.equal << 1 | c.reach;
    const std::uint64_t sum = skip + (after_eq & skip);
    const std::uint64_t reach = after_eq | (sum ^ skip);
    c.reach = k.equal >> 63 | static_cast<std::uint64_t>(sum < skip);
    c.wide = w2 >> 63 | w3 >> 63 | w3 >> 62;  // (a lead at bit 63 covers bits 0 and 1, one at 62 bit 0)
    c.word = k.word >> 63;
    c.int_run = any_carry & ~frac_carry;
    c.frac_run = frac_carry;
    c.point = points >> 63;
    dropped = starts_any | points;
    return {starts, ends, starts & reach};
}

/// NumberClasses of the block at base of [p, p + n), byte by byte (the reference of the vector versions).
inline NumberClasses number_classes_scalar(const std::uint8_t* p, std::int64_t n, std::int64_t base) {
    NumberClasses k;
    for (int j = 0; j < 64 && base + j < n; ++j) {
        const std::uint8_t b = p[base + j];
        const std::uint64_t bit = 1ull << j;
        k.digits |= utf8::is_digit(b) ? bit : 0;
        k.word |= utf8::is_word(b) ? bit : 0;
        k.dots |= b == '.' ? bit : 0;
        k.equal |= b == '=' ? bit : 0;
        k.blank |= utf8::ascii_space(b) || b == '$' ? bit : 0;
        k.c2 |= b == 0xC2 ? bit : 0;
        k.a0 |= b == 0xA0 ? bit : 0;
        k.e3 |= b == 0xE3 ? bit : 0;
        k.x80 |= b == 0x80 ? bit : 0;
    }
    k.next1 = base + 64 < n ? p[base + 64] : 0;
    k.next2 = base + 65 < n ? p[base + 65] : 0;
    return k;
}

#if defined(__SSE2__)
/// NumberClasses of the 64 bytes w[0, 64) (NUL past the text), with the two bytes after them.
inline NumberClasses number_classes64(const std::uint8_t* w, std::uint8_t next1, std::uint8_t next2) {
    using namespace detail;
    NumberClasses k;
    for (int j = 0; j < 4; ++j) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 16 * j));
        const __m128i dg = digit(x);
        const __m128i blank = _mm_or_si128(_mm_or_si128(eq(x, ' '), eq(x, '$')), _mm_or_si128(eq(x, '\t'), in_range(x, 0x0B, 0x0C)));
        const int shift = 16 * j;
        auto bits = [](__m128i v) { return static_cast<std::uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(v))); };
        k.digits |= bits(dg) << shift;
        k.word |= bits(_mm_or_si128(_mm_or_si128(dg, letter(x)), eq(x, '_'))) << shift;
        k.dots |= bits(eq(x, '.')) << shift;
        k.equal |= bits(eq(x, '=')) << shift;
        k.blank |= bits(blank) << shift;
        k.c2 |= bits(eq(x, static_cast<char>(0xC2))) << shift;
        k.a0 |= bits(eq(x, static_cast<char>(0xA0))) << shift;
        k.e3 |= bits(eq(x, static_cast<char>(0xE3))) << shift;
        k.x80 |= bits(eq(x, static_cast<char>(0x80))) << shift;
    }
    k.next1 = next1;
    k.next2 = next2;
    return k;
}
#endif

}  // namespace rbic::steps::simd
