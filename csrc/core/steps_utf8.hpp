// UTF-8 helpers of the trace parser (private). Decoding follows the Unicode "maximal subpart" practice, so an
// invalid sequence reads as exactly the U+FFFD characters Python's bytes.decode("utf-8", "replace") yields.
#pragma once

#include <cstdint>
#include <string_view>

namespace rbic::steps::utf8 {

struct Unit {
    std::uint32_t cp;  ///< the code point, 0xFFFD for an invalid sequence
    int len;           ///< bytes consumed (>= 1)
};

/// Decodes the unit at p[0] (p < end, *p >= 0x80).
inline Unit decode(const std::uint8_t* p, const std::uint8_t* end) {
    const std::uint8_t b = p[0];
    int need;
    std::uint8_t lo = 0x80, hi = 0xBF;
    std::uint32_t cp;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 1; cp = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 2; cp = b & 0x0F;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3; cp = b & 0x07;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else {
        return {0xFFFD, 1};
    }
    int k = 1;
    for (; k <= need; ++k) {
        if (p + k >= end) return {0xFFFD, k};
        const std::uint8_t c = p[k];
        if (c < lo || c > hi) return {0xFFFD, k};
        lo = 0x80; hi = 0xBF;
        cp = (cp << 6) | (c & 0x3F);
    }
    return {cp, need + 1};
}

inline bool is_cjk(std::uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
           (cp >= 0x20000 && cp <= 0x2FA1F);
}

inline bool ascii_space(std::uint8_t b) { return b == ' ' || b == '\t' || b == 0x0B || b == 0x0C; }
inline bool ascii_blank(std::uint8_t b) { return ascii_space(b) || b == '\n' || b == '\r'; }
inline bool is_word(std::uint8_t b) {
    return (b >= '0' && b <= '9') || ((b | 0x20) >= 'a' && (b | 0x20) <= 'z') || b == '_';
}
inline bool is_letter(std::uint8_t b) { return (b | 0x20) >= 'a' && (b | 0x20) <= 'z'; }
inline bool is_digit(std::uint8_t b) { return b >= '0' && b <= '9'; }
inline std::uint8_t lower(std::uint8_t b) { return (b >= 'A' && b <= 'Z') ? b + 32 : b; }

/// Length of the multi-byte space (U+00A0 or U+3000) starting at p, else 0.
inline int wide_space_at(const std::uint8_t* p, const std::uint8_t* end) {
    if (end - p >= 2 && p[0] == 0xC2 && p[1] == 0xA0) return 2;
    if (end - p >= 3 && p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80) return 3;
    return 0;
}

/// Length of the multi-byte space ending right before p (begin <= p), else 0. A valid sequence always starts
/// on a non-continuation byte, so forward decoding sees it as the same character.
inline int wide_space_before(const std::uint8_t* begin, const std::uint8_t* p) {
    if (p - begin >= 2 && p[-2] == 0xC2 && p[-1] == 0xA0) return 2;
    if (p - begin >= 3 && p[-3] == 0xE3 && p[-2] == 0x80 && p[-1] == 0x80) return 3;
    return 0;
}

/// Skips spaces (not line breaks) forward from p.
inline const std::uint8_t* skip_spaces(const std::uint8_t* p, const std::uint8_t* end) {
    while (p < end) {
        if (ascii_space(*p)) { ++p; continue; }
        int w = wide_space_at(p, end);
        if (!w) break;
        p += w;
    }
    return p;
}

/// Skips spaces backward from p; returns the position right after the previous non-space character.
inline const std::uint8_t* skip_spaces_back(const std::uint8_t* begin, const std::uint8_t* p) {
    while (p > begin) {
        if (ascii_space(p[-1])) { --p; continue; }
        int w = wide_space_before(begin, p);
        if (!w) break;
        p -= w;
    }
    return p;
}

/// True when the bytes before p (>= begin) end with s, comparing ASCII case-insensitively (s is lower-case).
inline bool ends_with(const std::uint8_t* begin, const std::uint8_t* p, const std::string_view s) {
    if (static_cast<std::size_t>(p - begin) < s.size()) return false;
    const std::uint8_t* q = p - s.size();
    for (std::size_t k = 0; k < s.size(); ++k)
        if (lower(q[k]) != static_cast<std::uint8_t>(s[k])) return false;
    return true;
}

/// True when the bytes at p (< end) start with s, ASCII case-insensitively (s is lower-case).
inline bool starts_with(const std::uint8_t* p, const std::uint8_t* end, const std::string_view s) {
    if (static_cast<std::size_t>(end - p) < s.size()) return false;
    for (std::size_t k = 0; k < s.size(); ++k)
        if (lower(p[k]) != static_cast<std::uint8_t>(s[k])) return false;
    return true;
}

}  // namespace rbic::steps::utf8
