// SSE2 helpers of the portable kernels of the trace parser (private; steps_kernels.cpp), each with a scalar
// fallback giving identical results: the scan's event bits (the positions whose byte the scalar code would not
// treat as a no-op) and the step signature used to find candidate duplicate steps.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "steps_kernels.hpp"
#include "steps_utf8.hpp"

namespace rbic::steps::simd {

/// An equation sign at i of [0, n): '=' not after one of =<>! and not before = or >.
inline bool equation_sign(const std::uint8_t* p, std::int64_t i, std::int64_t n) {
    return p[i] == '=' && (i == 0 || (p[i - 1] != '=' && p[i - 1] != '<' && p[i - 1] != '>' && p[i - 1] != '!')) &&
           (i + 1 >= n || (p[i + 1] != '=' && p[i + 1] != '>'));
}

/// True for the bytes after a backslash that scan() acts on: \\ \$ \[ \] \( \) (a table: the kernels test the
/// byte after each block with it, without branching).
inline bool escape_follows(std::uint8_t d) {
    static constexpr auto kEscape = [] {
        std::array<bool, 256> t{};
        t['\\'] = t['$'] = t['['] = t[']'] = t['('] = t[')'] = true;
        return t;
    }();
    return kEscape[d];
}

/// Scalar definition of a scan event at i (0 < i, i + 1 < n): see scan() in steps.cpp. ('=' is counted apart.)
inline bool scan_event(const std::uint8_t* p, std::int64_t i) {
    const std::uint8_t b = p[i];
    if (b >= 0x80) return true;
    const std::uint8_t prev = p[i - 1], next = p[i + 1];
    switch (b) {
        case '\n': case '\r': case '$': case '<': case '.': case '!': case '?': return true;
        case '\\': return escape_follows(next);  // a backslash before a letter (a command) changes nothing
        default: break;
    }
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

/// Class bits of 64 bytes, from which their event bits follow (block_events); each ISA computes them with its own
/// vectors.
struct EventClasses {
    std::uint64_t letters, digits, under, backslash;
    std::uint64_t escaped;   ///< \\ $ [ ] ( ) (the bytes after a backslash that matter: escape_follows)
    std::uint64_t special;   ///< \n \r $ < . ! ?
    std::uint64_t nonascii;  ///< bytes >= 0x80
    std::uint64_t eqs, before_eq, after_eq;  ///< '='; = < > ! (not before an equation sign); = > (not after one)
};

/// The event bits (see scan_event) of a block of 64 bytes but for its non-ASCII bytes, from their classes and the
/// bytes before (`a`) and after (`z`) the block (NUL outside the text). Each neighbour condition is a class shifted
/// by one. `equals` receives the equation signs (equation_sign).
inline std::uint64_t block_events(const EventClasses& c, std::uint8_t a, std::uint8_t z, std::uint64_t& equals) {
    equals = c.eqs & ~(c.before_eq << 1 | (a == '=' || a == '<' || a == '>' || a == '!')) &
             ~(c.after_eq >> 1 | static_cast<std::uint64_t>(z == '=' || z == '>') << 63);
    const std::uint64_t word_prev = (c.letters | c.digits | c.under) << 1 | utf8::is_word(a);
    const std::uint64_t ident_prev = (c.letters | c.under | c.backslash) << 1 | (utf8::is_letter(a) || a == '_' || a == '\\');
    const std::uint64_t alnum_next =
        (c.letters | c.digits) >> 1 | static_cast<std::uint64_t>(utf8::is_letter(z) || utf8::is_digit(z)) << 63;
    const std::uint64_t escape_next = c.escaped >> 1 | static_cast<std::uint64_t>(escape_follows(z)) << 63;
    return c.special | (c.backslash & escape_next) | (c.digits & ~word_prev) | (c.letters & ~ident_prev & ~alnum_next);
}

/// The bytes p[base, base + 66) of a 64-byte block of [0, n), as a pointer to their first byte: the text itself
/// where they lie inside it, else a zero-padded copy in `buf` (bytes outside [0, n) read as NUL).
inline const std::uint8_t* block(const std::uint8_t* p, std::int64_t n, std::int64_t base, std::uint8_t (&buf)[96]) {
    if (base + 66 <= n) return p + base;
    std::memset(buf, 0, sizeof buf);
    std::memcpy(buf, p + base, static_cast<std::size_t>(n - base));  // (n - base < 66)
    return buf;
}

/// The byte before the block at base of a text (NUL at its start).
inline std::uint8_t byte_before(const std::uint8_t* p, std::int64_t base) { return base > 0 ? p[base - 1] : 0; }

/// Bits of a 64-byte block starting at base that lie inside [0, n).
inline std::uint64_t inside(std::int64_t n, std::int64_t base) {
    return n - base >= 64 ? ~0ull : (1ull << (n - base)) - 1;
}

#if defined(__SSE2__)
namespace detail {
// The EventClasses of the 64 bytes q[0, 64).
inline EventClasses event_classes64(const std::uint8_t* q) {
    EventClasses c{};
    for (int k = 0; k < 4; ++k) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16 * k));
        const __m128i bs = eq(x, '\\'), dollar = eq(x, '$');
        __m128i sp = _mm_or_si128(_mm_or_si128(eq(x, '\n'), eq(x, '\r')), dollar);
        sp = _mm_or_si128(sp, _mm_or_si128(eq(x, '<'), _mm_or_si128(eq(x, '.'), _mm_or_si128(eq(x, '!'), eq(x, '?')))));
        const __m128i e = eq(x, '='), gt = eq(x, '>');
        const int shift = 16 * k;
        auto bits = [](__m128i v) { return static_cast<std::uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(v))); };
        c.letters |= bits(letter(x)) << shift;
        c.digits |= bits(digit(x)) << shift;
        c.under |= bits(eq(x, '_')) << shift;
        c.backslash |= bits(bs) << shift;
        c.escaped |= bits(_mm_or_si128(_mm_or_si128(bs, dollar), _mm_or_si128(_mm_or_si128(eq(x, '['), eq(x, ']')),
                                                                          _mm_or_si128(eq(x, '('), eq(x, ')'))))) << shift;
        c.special |= bits(sp) << shift;
        c.nonascii |= bits(x) << shift;
        c.eqs |= bits(e) << shift;
        c.before_eq |= bits(_mm_or_si128(_mm_or_si128(e, gt), _mm_or_si128(eq(x, '<'), eq(x, '!')))) << shift;
        c.after_eq |= bits(_mm_or_si128(e, gt)) << shift;
    }
    return c;
}
}  // namespace detail
#endif

/// Class bits of 64 positions for decoding non-ASCII text by masks (ByteCounts::utf8_counted); each ISA computes
/// them from the bytes and the one and two after each (NUL past the end).
struct Utf8Classes {
    std::uint64_t cont;          ///< continuation bytes 80..BF
    std::uint64_t lead2, lead3;  ///< C2..DF; E0..EF
    std::uint64_t bad;           ///< F0..FF, C0, C1, E0 not before A0..BF, ED not before 80..9F
    /// Lead bytes of CJK ideographs (utf8::is_cjk without the 4-byte planes), by the lead and the second byte:
    /// E5..E9; E3 90..BF (U+3400..); E4 but E4 B7 (U+4DC0..U+4DFF); EF A4..AB (U+F900..U+FAFF).
    std::uint64_t cjk;
    std::uint64_t sentence_end;  ///< lead bytes of 。！？ (E3 80 82, EF BC 81, EF BC 9F)
};

/// The positions of the block (`in`: those inside the text) that break the structure of valid 2- and 3-byte
/// UTF-8: a continuation byte where no lead wants one or the reverse, a bad lead, or a lead wanting bytes past
/// the end. `carry` holds the continuations that leads at bits 62 and 63 want in the next block.
inline std::uint64_t utf8_invalid(const Utf8Classes& u, std::uint64_t in, std::uint64_t& carry) {
    const std::uint64_t want = (u.lead2 | u.lead3) << 1 | u.lead3 << 2 | carry;
    carry = (u.lead2 | u.lead3) >> 63 | u.lead3 >> 62;
    return (((u.cont ^ want) | u.bad) & in) | (want & ~in);
}

/// The event-mask kernel (Kernels::event_masks) of the SSE2 and AVX2 sets: block by block (simd::block), the
/// classes and UTF-8 classes from `Blocks` (static classes(q), utf8(q) and nonascii(q) of the 64 bytes q[0, 64),
/// computed with the set's own vectors), everything else shared. Always inlined, so that it is compiled for the
/// target of the kernel that calls it, and the `Blocks` functions with it.
template <typename Blocks>
__attribute__((always_inline)) inline void event_masks_by_blocks(const std::uint8_t* p, std::int64_t n,
                                                                 std::uint64_t* masks, ByteCounts& counts) {
    counts = ByteCounts{};
    std::uint64_t carry_lead = 0, invalid = 0;
    for (std::int64_t base = 0; base < n; base += 64) {
        std::uint8_t buf[96];
        const std::uint64_t in = inside(n, base);
        const std::uint8_t* q = block(p, n, base, buf);
        const EventClasses c = Blocks::classes(q);
        std::uint64_t equals;
        std::uint64_t word = block_events(c, byte_before(p, base), q[64], equals) & in;
        if ((c.nonascii & in) | carry_lead) {
            const Utf8Classes u = Blocks::utf8(q);
            invalid |= utf8_invalid(u, in, carry_lead);
            counts.continuations += __builtin_popcountll(u.cont & in);
            counts.cjk += __builtin_popcountll(u.cjk & in);
            word |= u.sentence_end & in;
        }
        counts.letters += __builtin_popcountll(c.letters & in);
        counts.equals += __builtin_popcountll(equals & in);
        counts.events += __builtin_popcountll(word);
        masks[base / 64] = word;
    }
    counts.utf8_counted = !(invalid | carry_lead);
    if (!counts.utf8_counted) {  // every non-ASCII byte an event: a second pass
        counts.continuations = counts.cjk = 0;
        for (std::int64_t base = 0; base < n; base += 64) {
            std::uint8_t buf[96];
            const std::uint64_t nonascii = Blocks::nonascii(block(p, n, base, buf)) & inside(n, base);
            counts.events += __builtin_popcountll(nonascii & ~masks[base / 64]);
            masks[base / 64] |= nonascii;
        }
    }
}

#if defined(__SSE2__)
namespace detail {
inline __m128i in_range_u(__m128i x, int lo, int span) {  // bytes in [lo, lo + span], unsigned
    const __m128i d = _mm_sub_epi8(x, _mm_set1_epi8(static_cast<char>(lo)));
    return _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(static_cast<char>(span))), d);
}
/// Utf8Classes of the 64 bytes q[0, 64), given q[64] and q[65].
inline Utf8Classes utf8_classes64(const std::uint8_t* q) {
    Utf8Classes u{};
    for (int k = 0; k < 4; ++k) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16 * k));
        const __m128i x1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 1 + 16 * k));
        const __m128i x2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 2 + 16 * k));
        const __m128i e3 = eq(x, static_cast<char>(0xE3)), ef = eq(x, static_cast<char>(0xEF));
        const __m128i second_high = in_range_u(x1, 0xA0, 0x5F);  // A0..FF
        const __m128i bad = _mm_or_si128(
            _mm_or_si128(in_range_u(x, 0xF0, 0x0F), in_range_u(x, 0xC0, 1)),
            _mm_or_si128(_mm_andnot_si128(second_high, eq(x, static_cast<char>(0xE0))),
                         _mm_and_si128(second_high, eq(x, static_cast<char>(0xED)))));
        const __m128i cjk = _mm_or_si128(
            _mm_or_si128(in_range_u(x, 0xE5, 4), _mm_and_si128(e3, in_range_u(x1, 0x90, 0x6F))),
            _mm_or_si128(_mm_andnot_si128(eq(x1, static_cast<char>(0xB7)), eq(x, static_cast<char>(0xE4))),
                         _mm_and_si128(ef, in_range_u(x1, 0xA4, 7))));
        const __m128i end = _mm_or_si128(
            _mm_and_si128(e3, _mm_and_si128(eq(x1, static_cast<char>(0x80)), eq(x2, static_cast<char>(0x82)))),
            _mm_and_si128(_mm_and_si128(ef, eq(x1, static_cast<char>(0xBC))),
                          _mm_or_si128(eq(x2, static_cast<char>(0x81)), eq(x2, static_cast<char>(0x9F)))));
        auto bits = [](__m128i v) { return static_cast<std::uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(v))); };
        const int shift = 16 * k;
        u.cont |= bits(in_range_u(x, 0x80, 0x3F)) << shift;
        u.lead2 |= bits(in_range_u(x, 0xC2, 0x1D)) << shift;
        u.lead3 |= bits(in_range_u(x, 0xE0, 0x0F)) << shift;
        u.bad |= bits(bad) << shift;
        u.cjk |= bits(cjk) << shift;
        u.sentence_end |= bits(end) << shift;
    }
    return u;
}

/// The non-ASCII bits of the 64 bytes q[0, 64).
inline std::uint64_t nonascii_mask64(const std::uint8_t* q) {
    std::uint64_t bits = 0;
    for (int k = 0; k < 4; ++k) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16 * k));
        bits |= static_cast<std::uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(x))) << (16 * k);
    }
    return bits;
}
}  // namespace detail
#endif

}  // namespace rbic::steps::simd
