// Reasoning-trace parser: markers (Aho–Corasick), tokenising scan, segmentation and per-step features.
// The definitions are those of python/rbic_fast/reference.py (positions here are bytes, there code points).
#include "rbic/steps.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "steps_automaton.hpp"
#include "steps_kernels.hpp"
#include "steps_simd.hpp"
#include "steps_utf8.hpp"

namespace rbic::steps {

namespace {

using u8 = std::uint8_t;

struct Hit {
    std::int64_t start, end;
    int category;
};

struct PatternEnd {
    std::int64_t pos;      ///< the last byte of the pattern(s)
    std::uint32_t state;   ///< automaton state there (its outputs are the patterns)
};

struct Entity {
    std::int64_t pos;
    std::int32_t len;
};

// A list filled by scan() without capacity checks in its loop: scan() first reserves a bound on what one text
// can add (from the text's event count), and reset() keeps the storage across texts.
template <typename T>
class BoundedList {
public:
    void reset(std::size_t bound) {
        if (buf_.size() < bound) buf_.resize(bound);
        bound_ = bound;
        size_ = 0;
    }
    void push(const T& v) {
#ifdef _GLIBCXX_ASSERTIONS  // the sanitizer and fuzz builds check the bound the caller promised
        if (size_ >= bound_) __builtin_trap();
#endif
        buf_[size_++] = v;
    }
    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    const T& operator[](std::size_t i) const { return buf_[i]; }
    const T* begin() const { return buf_.data(); }
    const T* end() const { return buf_.data() + size_; }

private:
    std::vector<T> buf_;
    std::size_t bound_ = 0, size_ = 0;
};

// A list that grows by doubling, with the capacity check inline and the growth out of line (std::vector's
// push_back was compiled as an out-of-line call in the automaton's loop). reset() keeps the storage across texts.
template <typename T>
class GrowList {
public:
    GrowList() = default;
    GrowList(GrowList&&) = default;  // (the vector's buffer moves with its pointers)
    GrowList& operator=(GrowList&&) = default;
    GrowList(const GrowList&) = delete;
    GrowList& operator=(const GrowList&) = delete;
    void reset() { end_ = buf_.data(); }
    void push(const T& v) {
        if (__builtin_expect(end_ == cap_, 0)) grow();
        *end_++ = v;
    }
    void append(const GrowList& other) {
        for (const T& v : other) push(v);
    }
    std::size_t size() const { return static_cast<std::size_t>(end_ - buf_.data()); }
    const T& operator[](std::size_t i) const { return buf_[i]; }
    const T* begin() const { return buf_.data(); }
    const T* end() const { return end_; }

private:
    __attribute__((noinline)) void grow() {
        const std::size_t size = this->size();
        buf_.resize(std::max<std::size_t>(64, 2 * buf_.size()));
        end_ = buf_.data() + size;
        cap_ = buf_.data() + buf_.size();
    }
    std::vector<T> buf_;
    T* end_ = nullptr;
    T* cap_ = nullptr;
};

// The slots of an open-addressing table that is cleared per text by a generation stamp: a slot is live when its
// `gen` equals the table's. Linear probing from a hash: for (i = h & mask();; i = (i + 1) & mask()) slot(i).
template <typename Slot>
class StampedSlots {
public:
    /// Sizes the probed slots for `expected` keys (a power of two >= 2 * expected + 2) and empties them.
    void reset(std::size_t expected) {
        std::size_t cap = 64;
        while (cap < 2 * expected + 2) cap <<= 1;
        if (cap > slots_.size() || ++gen_ == 0) {  // (a wrapped stamp would make stale slots current)
            slots_.assign(std::max(cap, slots_.size()), Slot{});
            gen_ = 1;
        }
        // Only the first `cap` slots: a short text after a long one probes a table that stays in cache.
        mask_ = cap - 1;
    }
    std::size_t mask() const { return mask_; }
    Slot& slot(std::size_t i) { return slots_[i]; }
    const Slot& slot(std::size_t i) const { return slots_[i]; }
    bool live(const Slot& s) const { return s.gen == gen_; }
    std::uint32_t gen() const { return gen_; }

private:
    std::vector<Slot> slots_;
    std::size_t mask_ = 0;
    std::uint32_t gen_ = 0;
};

// Open-addressing table: entity text -> step of its first definition. Cleared per text by a generation stamp.
class FirstDefs {
public:
    /// @param[in] limit end of the text the keys point into (keys are hashed 8 bytes at a time below it).
    void reset(std::size_t expected, const u8* limit) {
        limit_ = limit;
        slots_.reset(2 * expected);  // at most a quarter full: a key not defined mostly finds its home slot empty
    }
    /// Looks up the entities es[0, n) of the text p: those whose key has a definition go to pos/step (the step of
    /// its first definition), in order. Returns their count.
    /// Most look-ups end at their home slot (empty, or the key), and whether a use's key is defined is random:
    /// that slot is read without branching on it; other slots (a collision, or a key longer than 8 bytes, whose
    /// bytes need comparing) take the probing loop.
    std::size_t find_defined(const Entity* es, std::size_t n, const u8* p, std::int64_t* pos, std::int32_t* step) const {
        const Slot* slots = &slots_.slot(0);
        const std::size_t mask = slots_.mask();
        const std::uint32_t gen = slots_.gen();
        const u8* limit = limit_;  // (locals: the stores below could alias the members for the compiler)
        std::size_t found = 0;
        for (std::size_t k = 0; k < n; ++k) {
            const u8* key = p + es[k].pos;
            const std::int32_t len = es[k].len;
            const std::uint64_t h = hash(key, len, limit);
            const Slot& s = slots[h & mask];
            const bool live = s.gen == gen;
            const bool match = live & (s.hash == h) & (s.len == len);
            std::int32_t i = s.step | -static_cast<std::int32_t>(!match);  // (a select the compiler keeps branch-free)
            if (__builtin_expect((live & !match) | (len > 8), 0)) i = probe(key, len, h, h & mask);
            pos[found] = es[k].pos;
            step[found] = i;
            found += i >= 0;
        }
        return found;
    }
    void insert_first(const u8* key, std::int32_t len, std::int32_t step) {
        const std::uint64_t h = hash(key, len, limit_);
        for (std::size_t i = h & slots_.mask();; i = (i + 1) & slots_.mask()) {
            Slot& s = slots_.slot(i);
            if (!slots_.live(s)) {
                s = Slot{h, key, len, step, slots_.gen()};
                return;
            }
            if (s.hash == h && s.len == len && same(s.key, key, len)) return;
        }
    }

private:
    std::int32_t probe(const u8* key, std::int32_t len, std::uint64_t h, std::size_t home) const {
        for (std::size_t i = home;; i = (i + 1) & slots_.mask()) {
            const Slot& s = slots_.slot(i);
            if (!slots_.live(s)) return -1;
            if (s.hash == h && s.len == len && same(s.key, key, len)) return s.step;
        }
    }
    struct Slot {
        std::uint64_t hash = 0;
        const u8* key = nullptr;
        std::int32_t len = 0;
        std::int32_t step = 0;
        std::uint32_t gen = 0;
    };
    // Keys of equal hash and length: a key of at most 8 bytes is one word that hash() maps bijectively (xor with a
    // constant, odd multiplications, xor-shifts), so only longer keys need the bytes compared.
    static bool same(const u8* a, const u8* b, std::int32_t len) { return len <= 8 || std::memcmp(a, b, len) == 0; }
    // Entities are short: one 8-byte load each (masked to the key) while it stays below limit.
    static std::uint64_t hash(const u8* p, std::int32_t len, const u8* limit) {
        std::uint64_t h = 0x9E3779B97F4A7C15ull ^ static_cast<std::uint64_t>(len);
        if (static_cast<std::uint32_t>(len - 1) < 7 && limit - p >= 8) {  // the usual key: the same value, no loops
            std::uint64_t w;
            std::memcpy(&w, p, 8);
            h = (h ^ (w & (~0ull >> (8 * (8 - len))))) * 0x94D049BB133111EBull;
            return h ^ (h >> 29);
        }
        std::int32_t i = 0;
        for (; i + 8 <= len; i += 8) {
            std::uint64_t w;
            std::memcpy(&w, p + i, 8);
            h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
            h ^= h >> 31;
        }
        if (i < len) {
            std::uint64_t w = 0;
            if (limit - (p + i) >= 8) {
                std::memcpy(&w, p + i, 8);
                w &= ~0ull >> (8 * (8 - (len - i)));
            } else {
                for (std::int32_t k = i; k < len; ++k) w |= static_cast<std::uint64_t>(p[k]) << (8 * (k - i));
            }
            h = (h ^ w) * 0x94D049BB133111EBull;
        }
        return h ^ (h >> 29);
    }
    StampedSlots<Slot> slots_;
    const u8* limit_ = nullptr;
};

// Open-addressing map from a pair of 64-bit keys to a 32-bit value. Cleared per text by a generation stamp.
class PairTable {
public:
    void reset(std::size_t expected) { slots_.reset(expected); }
    /// The value of (a, b); when absent, inserts it with `value` and sets `inserted`.
    std::uint32_t& find_or_insert(std::uint64_t a, std::uint64_t b, std::uint32_t value, bool& inserted) {
        std::uint64_t h = (a ^ (b * 0xBF58476D1CE4E5B9ull)) * 0x94D049BB133111EBull;
        h ^= h >> 32;
        for (std::size_t i = h & slots_.mask();; i = (i + 1) & slots_.mask()) {
            Slot& s = slots_.slot(i);
            if (!slots_.live(s)) {
                s = Slot{a, b, value, slots_.gen()};
                inserted = true;
                return s.value;
            }
            if (s.a == a && s.b == b) {
                inserted = false;
                return s.value;
            }
        }
    }

private:
    struct Slot {
        std::uint64_t a = 0, b = 0;
        std::uint32_t value = 0, gen = 0;
    };
    StampedSlots<Slot> slots_;
};

// Per-thread buffers, reused across texts so that memory stays bounded by the longest text.
struct Scratch {
    std::vector<Hit> hits, kept;
    GrowList<PatternEnd> ends, stream_ends[4];
    BoundedList<std::int64_t> hard, sentence;  ///< line starts; positions after a sentence end
    std::vector<std::int64_t> sentence_cuts, cuts;  ///< segment(): kept sentence boundaries; all boundaries
    BoundedList<Entity> uses, defs;  ///< entity occurrences in text order, split by kind
    /// segment(): spans[0, n_spans) are the steps (entries past them are stale).
    std::vector<std::pair<std::int64_t, std::int64_t>> spans;
    std::size_t n_spans = 0;
    std::vector<std::int64_t> head_pos;  ///< segment(): per step, where a marker at its head starts, or -1
    std::vector<int> heads;
    std::vector<std::int32_t> depth, def_step, use_def;  ///< per step; per definition, per found use: a step
    std::vector<std::int64_t> use_pos;                    ///< per found use (parse_one)
    PairTable sig_first, sig_norms;  ///< redundancy: signature -> its first step; (signature, exact hash) pairs
    std::vector<std::uint8_t> first_hashed;  ///< redundancy: per first step of a signature, its hash is in sig_norms
    std::vector<u8> norm_buf;
    std::vector<std::uint64_t> event_masks;
    FirstDefs first_defs;
};

// Buffers live per thread across calls (batches do not reallocate them); a text larger than this releases them.
constexpr std::int64_t kKeepScratchBytes = 4 << 20;

// On the heap, so that the kernels address it like any other object (a thread_local object's address is a TLS
// look-up, which the compiler repeats in the hot loops when it specialises them for that address).
Scratch& thread_scratch() {
    static thread_local std::unique_ptr<Scratch> scratch;
    if (!scratch) scratch = std::make_unique<Scratch>();
    return *scratch;
}

// parse_one() writes every field (no zero-filling per row).
struct Result {
    std::int64_t ints[kNumFeatures];
    float redundancy;
    std::uint8_t lang;
};

// The analysed region: inside <think>…</think> when present (see TraceFeatures).
// One pass over the '<' that can start a tag: the first "<think>" and the first "</think>" (the open tag only
// matters before it).
std::pair<std::int64_t, std::int64_t> think_region(const Kernels& kernels, const u8* text, std::int64_t size) {
    std::int64_t open = -1;
    const u8* end = text + size;
    for (const u8* q = text + kernels.find_tag(text, size); q < end; q += 1 + kernels.find_tag(q + 1, end - q - 1)) {
        if (end - q >= 8 && std::memcmp(q, "</think>", 8) == 0)
            return {(open >= 0 && open + 7 <= q - text) ? open + 7 : 0, q - text};
        if (open < 0 && end - q >= 7 && std::memcmp(q, "<think>", 7) == 0) open = q - text;
    }
    return {open >= 0 ? open + 7 : 0, size};
}

bool in_set(const u8* begin, const u8* p, int initial) {
    // p: right after the previous non-space character (p > begin).
    const u8 b = p[-1];
    if (b == '\n' || b == '\r' || b == '.' || b == '!' || b == '?') return true;
    if (initial == 2 && (b == ',' || b == ';')) return true;
    static constexpr std::string_view kSentence[] = {"\xE3\x80\x82", "\xEF\xBC\x81", "\xEF\xBC\x9F"};  // 。！？
    static constexpr std::string_view kClause[] = {"\xEF\xBC\x8C", "\xEF\xBC\x9B"};                   // ，；
    for (auto s : kSentence)
        if (utf8::ends_with(begin, p, s)) return true;
    if (initial == 2)
        for (auto s : kClause)
            if (utf8::ends_with(begin, p, s)) return true;
    return false;
}

bool setvar_ok(const u8* p, const u8* end) {
    p = utf8::skip_spaces(p, end);
    for (int k = 1; k <= 3 && p < end; ++k) {
        if (*p < 0x80) {
            if (!utf8::is_letter(*p)) return false;
            ++p;
        } else {
            utf8::Unit u = utf8::decode(p, end);
            if (u.cp < 0x4E00 || u.cp > 0x9FFF) return false;
            p += u.len;
        }
        const u8* q = utf8::skip_spaces(p, end);
        if (q < end && (*q == '=' || utf8::starts_with(q, end, "\xE4\xB8\xBA") ||  // 为
                        utf8::starts_with(q, end, "\xE6\x98\xAF")))                // 是
            return true;
    }
    return false;
}

bool rule_ok(const CompiledRule& c, const u8* begin, const u8* end, std::int64_t start, std::int64_t stop) {
    const u8* s = begin + start;
    const u8* e = begin + stop;
    if (c.left_word && s > begin && utf8::is_word(s[-1])) return false;
    if (c.right_word && e < end && utf8::is_word(*e)) return false;
    const MarkerRule& r = c.rule;
    if (r.initial) {
        const u8* q = utf8::skip_spaces_back(begin, s);
        if (q > begin && !in_set(begin, q, r.initial)) return false;
    }
    if (!c.followed_by.empty() && e < end && !utf8::ascii_blank(*e) && !utf8::wide_space_at(e, end)) {
        bool ok = false;
        for (const auto& ch : c.followed_by) ok = ok || utf8::starts_with(e, end, ch);
        if (!ok) return false;
    }
    for (const auto& t : r.not_followed_by)
        if (utf8::starts_with(e, end, t)) return false;
    for (const auto& t : r.not_preceded_by)
        if (utf8::ends_with(begin, s, t)) return false;
    return !r.setvar || setvar_ok(e, end);
}

// Pass 1a, once per run of rows: every position of [p, p + n) where some pattern ends, with the automaton state
// there, in position order (sc.ends). Positions are relative to p. A row's matches are the ends inside its
// region whose pattern starts inside it too: the automaton's state after a byte depends only on the max_len - 1
// bytes before it, so running over the neighbouring rows changes nothing for the patterns within a row.
void find_pattern_ends(const Automaton& ac, const u8* p, std::int64_t n, Scratch& sc) {
    sc.ends.reset();
    const std::uint32_t* delta = ac.delta.data();
    const std::uint32_t* cls = ac.byte_class.data();
    const std::uint32_t thr = ac.out_threshold;
    // One stream per quarter of the bytes, interleaved: the four transition loads are independent, which hides
    // their latency. Streams 1..3 start max_len - 1 bytes early (from the root, without reporting), so every
    // match ending in a quarter is found by exactly that quarter's stream. (Eight streams spill registers and
    // run slower.)
    constexpr int kStreams = 4;
    const std::int64_t warm = static_cast<std::int64_t>(ac.max_len) - 1;
    const std::int64_t q = n / kStreams;
    std::int64_t tail_from = 0;
    std::uint32_t tail_state = 0;
    if (q >= warm + 16) {
        for (auto& h : sc.stream_ends) h.reset();
        std::uint32_t st[kStreams] = {0, 0, 0, 0};
        for (int k = 1; k < kStreams; ++k)
            for (std::int64_t i = k * q - warm; i < k * q; ++i) st[k] = delta[st[k] + cls[p[i]]];
        std::uint32_t s0 = st[0], s1 = st[1], s2 = st[2], s3 = st[3];  // (locals stay in registers)
        const u8 *p0 = p, *p1 = p + q, *p2 = p + 2 * q, *p3 = p + 3 * q;
        for (std::int64_t t = 0; t < q; ++t) {
            s0 = delta[s0 + cls[p0[t]]];
            s1 = delta[s1 + cls[p1[t]]];
            s2 = delta[s2 + cls[p2[t]]];
            s3 = delta[s3 + cls[p3[t]]];
            // Pattern ends are rare (a few per hundred bytes) and the threshold is a power of two above every
            // state without outputs: one test for the four streams.
            if ((s0 | s1 | s2 | s3) >= thr) {
                if (s0 >= thr) sc.stream_ends[0].push({t, s0});
                if (s1 >= thr) sc.stream_ends[1].push({q + t, s1});
                if (s2 >= thr) sc.stream_ends[2].push({2 * q + t, s2});
                if (s3 >= thr) sc.stream_ends[3].push({3 * q + t, s3});
            }
        }
        for (const auto& h : sc.stream_ends) sc.ends.append(h);
        tail_from = kStreams * q;
        tail_state = s3;
    }
    std::uint32_t st = tail_state;
    for (std::int64_t i = tail_from; i < n; ++i) {
        st = delta[st + cls[p[i]]];
        if (st >= thr) sc.ends.push({i, st});
    }
}

// Pass 1b, per row: the valid marker occurrences of the region [p, p + n), whose first byte is at `offset` in the
// coordinates of the pattern ends, then the leftmost-longest selection without overlaps (sc.kept).
// `cursor` indexes sc.ends; it moves forward across the rows of a run.
void find_markers(const Automaton& ac, const u8* p, std::int64_t n, std::int64_t offset, Scratch& sc,
                  std::size_t& cursor) {
    sc.hits.clear();
    sc.kept.clear();
    if (n == 0) return;
    const auto& ends = sc.ends;
    if (cursor > 0 && ends[cursor - 1].pos >= offset) {
        // Rows of a malformed (overlapping) offsets array can go back: search from the start.
        cursor = static_cast<std::size_t>(
            std::lower_bound(ends.begin(), ends.end(), offset, [](const PatternEnd& e, std::int64_t v) { return e.pos < v; }) -
            ends.begin());
    }
    while (cursor < ends.size() && ends[cursor].pos < offset) ++cursor;
    for (std::size_t k = cursor; k < ends.size() && ends[k].pos < offset + n; ++k) {
        const std::int64_t i = ends[k].pos - offset;
        const std::uint32_t id = ends[k].state / ac.n_classes;
        for (std::uint32_t r = ac.out_begin[id]; r < ac.out_begin[id + 1]; ++r) {
            const CompiledRule& c = ac.rules[ac.out_rules[r]];
            const std::int64_t start = i + 1 - static_cast<std::int64_t>(c.rule.pattern.size());
            if (start >= 0 && rule_ok(c, p, p + n, start, i + 1)) sc.hits.push_back({start, i + 1, c.rule.category});
        }
    }
    // Hits are in end order, so each is at most a pattern length away from its place in (start, longer first)
    // order: insertion sort is linear here.
    auto before = [](const Hit& a, const Hit& b) { return a.start != b.start ? a.start < b.start : a.end > b.end; };
    for (std::size_t j = 1; j < sc.hits.size(); ++j) {
        const Hit h = sc.hits[j];
        std::size_t k = j;
        for (; k > 0 && before(h, sc.hits[k - 1]); --k) sc.hits[k] = sc.hits[k - 1];
        sc.hits[k] = h;
    }
    std::int64_t last = 0;
    for (const Hit& h : sc.hits) {
        if (h.start >= last) {
            sc.kept.push_back(h);
            last = h.end;
        }
    }
}

enum State { kText, kInlineDollar, kInlineParen, kDisplayDollar, kDisplayBracket };

struct ScanCounts {
    std::int64_t chars = 0, cjk = 0, letters = 0, eq = 0, display = 0, inline_ = 0, numbers = 0;
};

// Counts characters, CJK ideographs of the non-ASCII units in [p, end) (used for skipped ranges).
void count_units(const u8* p, const u8* end, ScanCounts& c) {
    while (p < end) {
        if (*p < 0x80) {
            ++p;
            continue;
        }
        utf8::Unit u = utf8::decode(p, end);
        c.chars -= u.len - 1;
        c.cjk += utf8::is_cjk(u.cp);
        p += u.len;
    }
}

// The end of the run of ASCII digits starting at k (8 bytes at a time while they lie inside [0, n)).
inline std::int64_t skip_digits(const u8* p, std::int64_t k, std::int64_t n) {
    for (; k + 8 <= n; k += 8) {
        std::uint64_t w;
        std::memcpy(&w, p + k, 8);
        const std::uint64_t x = w ^ 0x3030303030303030ull;  // a digit byte becomes 0..9
        const std::uint64_t other = (((x & 0x7F7F7F7F7F7F7F7Full) + 0x7676767676767676ull) | x) & 0x8080808080808080ull;
        if (other) return k + (__builtin_ctzll(other) >> 3);
    }
    while (k < n && utf8::is_digit(p[k])) ++k;
    return k;
}

// The byte before the spaces and '$' that end p[0, q), or 0 at the start (the '=' test of a number result). Most
// numbers follow at most one such byte, so the two bytes before q are read without a loop (a select, no branch
// on which); the loop remains for more skipped bytes or a non-ASCII byte (a wide space can end in one).
inline u8 byte_before_spaces(const u8* p, const u8* q) {
    static constexpr auto kSkip = [] {
        std::array<bool, 256> t{};
        t[' '] = t['\t'] = t[0x0B] = t[0x0C] = t['$'] = true;
        return t;
    }();
    if (q - p >= 2) {
        const u8 b1 = q[-1], b2 = q[-2];
        const bool s1 = kSkip[b1];
        const u8 b = s1 ? b2 : b1;
        if (!(s1 && kSkip[b2]) && b < 0x80) return b;
    }
    while (q > p) {
        if (q[-1] == '$' || utf8::ascii_space(q[-1])) { --q; continue; }
        const int w = utf8::wide_space_before(p, q);
        if (!w) break;
        q -= w;
    }
    return q > p ? q[-1] : 0;
}

// True when p[0, i) ends a line-initial list number (1-3 digits after spaces and #*>), as in "3. Hence".
bool list_number_before(const u8* p, std::int64_t i) {
    std::int64_t j = i;
    while (j > 0 && i - j < 3 && utf8::is_digit(p[j - 1])) --j;
    if (j == i || (j > 0 && utf8::is_digit(p[j - 1]))) return false;
    while (j > 0) {
        const u8 b = p[j - 1];
        if (utf8::ascii_space(b) || b == '#' || b == '*' || b == '>') { --j; continue; }
        const int w = utf8::wide_space_before(p, p + j);
        if (!w) break;
        j -= w;
    }
    return j == 0 || p[j - 1] == '\n' || p[j - 1] == '\r';
}

// The body of a GSM8K annotation "<<…>>" from `from`: returns the first of < > \n \r at or after it (or n), and
// adds the equation signs before that (simd::equation_sign) to `eqs`. Sixteen bytes at a time while they lie
// inside [0, n), testing only the '=' found.
inline std::int64_t annotation_body(const u8* p, std::int64_t from, std::int64_t n, std::int64_t& eqs) {
    std::int64_t k = from;
#if defined(__SSE2__)
    using simd::detail::eq;
    for (; k + 16 <= n; k += 16) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + k));
        const unsigned stop = static_cast<unsigned>(
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(eq(x, '<'), eq(x, '>')), _mm_or_si128(eq(x, '\n'), eq(x, '\r')))));
        unsigned equal = static_cast<unsigned>(_mm_movemask_epi8(eq(x, '=')));
        if (stop) equal &= (1u << __builtin_ctz(stop)) - 1;
        for (; equal; equal &= equal - 1) eqs += simd::equation_sign(p, k + __builtin_ctz(equal), n);
        if (stop) return k + __builtin_ctz(stop);
    }
#endif
    for (; k < n && p[k] != '<' && p[k] != '>' && p[k] != '\n' && p[k] != '\r'; ++k) eqs += simd::equation_sign(p, k, n);
    return k;
}

// Pass 2: the tokenising scan (math state, boundaries, '=', numbers, entities); see reference.scan().
void scan(const Kernels& kernels, const u8* p, std::int64_t n, Scratch& sc, ScanCounts& c) {
    c.chars = n;
    const u8* end = p + n;
    const std::size_t n_words = static_cast<std::size_t>((n + 63) / 64);
    if (sc.event_masks.size() < n_words + 1) sc.event_masks.resize(n_words + 1);
    std::uint64_t* masks = sc.event_masks.data();
    ByteCounts counts;
    kernels.event_masks(p, n, masks, counts);
    c.letters = counts.letters;
    c.eq = counts.equals;  // less those inside GSM8K annotations, below
    const bool utf8_counted = counts.utf8_counted;  // (else the non-ASCII runs are decoded below)
    if (utf8_counted) {
        c.chars -= counts.continuations;
        c.cjk = counts.cjk;
    }
    masks[n_words] = 0;
    // Every token, line break and ASCII sentence end is an event; a sentence end inside a run of non-ASCII text
    // (one event) takes 3 bytes.
    const std::size_t n_events = static_cast<std::size_t>(counts.events);
    sc.uses.reset(n_events);
    sc.defs.reset(n_events);
    sc.hard.reset(n_events + 1);
    sc.sentence.reset(n_events + static_cast<std::size_t>(n / 3));
    sc.hard.push(0);
    // The first event at or after i, or n.
    auto next_event = [masks, n_words, n](std::int64_t i) -> std::int64_t {
        std::size_t w = static_cast<std::size_t>(i >> 6);
        std::uint64_t m = masks[w] & (~0ull << (i & 63));
        while (!m) {
            if (++w >= n_words) return n;
            m = masks[w];
        }
        return static_cast<std::int64_t>(w * 64 + static_cast<std::size_t>(__builtin_ctzll(m)));
    };
    State state = kText;
    std::int64_t i = 0, annotation_start = -1, annotation_end = -1;
    auto sentence_end = [&](std::int64_t after) {
        const u8* q = utf8::skip_spaces(p + after, end);
        if (q < end && *q != '\n' && *q != '\r') sc.sentence.push(q - p);
    };
    while (i < n) {
        i = next_event(i);
        if (i >= n) break;
        const u8 b = p[i];
        if (utf8::is_digit(b)) {
            // Number tokens ahead of the switch: they are about half of the events of math text, and this test
            // halved the switch's mispredicted indirect jumps (callgrind's branch model) for a few more
            // conditional ones.
            if (i > 0 && utf8::is_word(p[i - 1])) {
                ++i;
                continue;
            }
            std::int64_t k = skip_digits(p, i, n);
            if (k + 1 < n && p[k] == '.' && utf8::is_digit(p[k + 1])) k = skip_digits(p, k + 1, n);
            ++c.numbers;
            // A result: '=' before it, skipping spaces, '$' and a GSM8K annotation ending right here.
            const u8 before = byte_before_spaces(p, p + (annotation_end == i ? annotation_start : i));
            (before == '=' ? sc.defs : sc.uses).push({i, static_cast<std::int32_t>(k - i)});
            i = k;
            continue;
        }
        if (b >= 0x80) {
            if (utf8_counted) {  // the kernel counted the characters: this is the lead byte of 。！？
                i += 3;
                if (state == kText) sentence_end(i);
                continue;
            }
            // A run of non-ASCII characters (CJK text) is decoded here without going back to the skip-ahead.
            do {
                // Fast path without data-dependent branches: a valid 3-byte character with lead E1..EF other than
                // ED (whose every continuation pair is valid), which is most of Chinese text and its punctuation.
                const u8 b0 = p[i];
                if (static_cast<u8>(b0 - 0xE1) <= 0x0E && b0 != 0xED && i + 2 < n &&
                    ((p[i + 1] & 0xC0) == 0x80) & ((p[i + 2] & 0xC0) == 0x80)) {
                    const std::uint32_t cp = (b0 & 0x0Fu) << 12 | (p[i + 1] & 0x3Fu) << 6 | (p[i + 2] & 0x3Fu);
                    c.chars -= 2;
                    c.cjk += (cp - 0x4E00u <= 0x51FFu) | (cp - 0x3400u <= 0x19BFu) | (cp - 0xF900u <= 0x1FFu);
                    i += 3;
                    if ((cp == 0x3002 || cp == 0xFF01 || cp == 0xFF1F) && state == kText) sentence_end(i);
                    continue;
                }
                utf8::Unit u = utf8::decode(p + i, end);
                c.chars -= u.len - 1;
                c.cjk += utf8::is_cjk(u.cp);
                i += u.len;
                if (state == kText && (u.cp == 0x3002 || u.cp == 0xFF01 || u.cp == 0xFF1F)) sentence_end(i);
            } while (i < n && p[i] >= 0x80);
            continue;
        }
        switch (b) {
            case '\n':
            case '\r':
                if (state == kInlineDollar || state == kInlineParen) state = kText;
                if (state == kText) sc.hard.push(i + 1);
                ++i;
                break;
            case '\\': {
                if (i + 1 >= n) { ++i; break; }
                const u8 d = p[i + 1];
                if (simd::escape_follows(d)) {  // (the same set the kernels mark backslash events by)
                    if (state == kText && d == '[') state = kDisplayBracket;
                    else if (state == kText && d == '(') state = kInlineParen;
                    else if (state == kDisplayBracket && d == ']') { state = kText; ++c.display; }
                    else if (state == kInlineParen && d == ')') { state = kText; ++c.inline_; }
                    i += 2;
                } else {
                    ++i;
                }
                break;
            }
            case '$': {
                const bool dbl = i + 1 < n && p[i + 1] == '$';
                if (state == kText) {
                    state = dbl ? kDisplayDollar : kInlineDollar;
                    i += dbl ? 2 : 1;
                } else if (state == kInlineDollar) {
                    state = kText;
                    ++c.inline_;
                    ++i;
                } else if (state == kDisplayDollar && dbl) {
                    state = kText;
                    ++c.display;
                    i += 2;
                } else {
                    ++i;
                }
                break;
            }
            case '<': {
                if (i + 1 < n && p[i + 1] == '<') {
                    std::int64_t eqs = 0;
                    const std::int64_t k = annotation_body(p, i + 2, n, eqs);
                    if (k + 1 < n && p[k] == '>' && p[k + 1] == '>') {
                        if (!utf8_counted) count_units(p + i + 2, p + k, c);
                        c.eq -= eqs;
                        annotation_start = i;
                        i = annotation_end = k + 2;
                        break;
                    }
                }
                ++i;
                break;
            }
            case '.':
                if (state == kText && !list_number_before(p, i)) sentence_end(i + 1);
                ++i;
                break;
            case '!':
            case '?':
                if (state == kText) sentence_end(i + 1);
                ++i;
                break;
            default:
                if (utf8::is_letter(b)) {
                    if (i > 0 && (utf8::is_letter(p[i - 1]) || p[i - 1] == '_' || p[i - 1] == '\\')) {
                        // Inside a word or a command: the following letters cannot start a token either
                        // (a digit can end the run: "\\pi3r" has the variable r).
                        ++i;
                        while (i < n && (utf8::is_letter(p[i]) || p[i] == '_')) ++i;
                        break;
                    }
                    std::int64_t e = i + 1;
                    bool ok = true;
                    if (e < n && p[e] == '_') {
                        if (e + 1 < n && utf8::is_word(p[e + 1]) && p[e + 1] != '_') {
                            e += 1;
                            while (e < n && utf8::is_word(p[e]) && p[e] != '_') ++e;
                        } else if (e + 1 < n && p[e + 1] == '{') {
                            std::int64_t k = e + 2;
                            while (k < n && utf8::is_word(p[k]) && p[k] != '_') ++k;
                            ok = k > e + 2 && k < n && p[k] == '}';
                            e = k + 1;
                        } else {
                            ok = false;
                        }
                    }
                    ok = ok && (e >= n || !utf8::is_word(p[e]));
                    if (!ok) {
                        ++i;
                        while (i < n && (utf8::is_letter(p[i]) || p[i] == '_')) ++i;
                        break;
                    }
                    const u8* q = utf8::skip_spaces(p + e, end);
                    bool def = q < end && *q == '=' && (q + 1 >= end || q[1] != '=') && !(i > 0 && utf8::is_digit(p[i - 1]));
                    if (def) {
                        const u8* r = utf8::skip_spaces_back(p, p + i);
                        def = !(r > p && std::strchr("+-*/^=", r[-1]) != nullptr && r[-1] != 0);
                    }
                    (def ? sc.defs : sc.uses).push({i, static_cast<std::int32_t>(e - i)});
                    i = e;
                } else {
                    ++i;
                }
        }
    }
}

// Byte classes of the strip loops: 0 ends a strip, 1 is an ASCII blank, 2 may start or end a wide space. The
// head of a step also skips markdown #*> (kHeadClass).
constexpr auto kStripClass = [] {
    std::array<u8, 256> t{};
    t[' '] = t['\t'] = t[0x0B] = t[0x0C] = t['\n'] = t['\r'] = 1;
    t[0xC2] = t[0xE3] = t[0xA0] = t[0x80] = 2;
    return t;
}();
constexpr auto kHeadClass = [] {
    std::array<u8, 256> t = kStripClass;
    t['#'] = t['*'] = t['>'] = 1;
    return t;
}();

// The first position of [i, e) whose byte the table does not skip: class 1 is skipped, class 2 when it starts a
// wide space.
inline std::int64_t skip_class(const std::array<u8, 256>& table, const u8* p, std::int64_t i, std::int64_t e) {
    while (i < e) {
        const u8 c = table[p[i]];
        if (c == 0) break;
        if (c == 1) { ++i; continue; }
        const int w = utf8::wide_space_at(p + i, p + e);
        if (!w) break;
        i += w;
    }
    return i;
}

// Pass 3: boundaries -> spans (stripped, non-empty), in sc.spans[0, sc.n_spans), and their heads (sc.head_pos).
void segment(const u8* p, std::int64_t n, Scratch& sc) {
    // Boundaries: every line start (sc.hard), and each sentence start where a kept marker begins. Both lists
    // increase strictly; most texts have no sentence boundary, and then the line starts are the boundaries.
    const std::int64_t* cuts = sc.hard.begin();
    std::size_t n_cuts = sc.hard.size();
    const std::size_t n_kept = sc.kept.size(), n_sentence = sc.sentence.size();
    if (n_kept && n_sentence) {
        // The sentence starts where a kept marker starts: a merge of the two lists that moves one of them per
        // iteration without a branch on which (their interleaving is random).
        sc.sentence_cuts.resize(n_sentence);
        std::size_t s = 0, k = 0, found = 0;
        while ((s < n_sentence) & (k < n_kept)) {
            const std::int64_t q = sc.sentence[s], start = sc.kept[k].start;
            sc.sentence_cuts[found] = q;
            found += q == start;
            s += q <= start;
            k += start <= q;
        }
        if (found) {
            sc.cuts.clear();
            std::size_t h = 0;
            for (std::size_t f = 0; f < found; ++f) {
                const std::int64_t q = sc.sentence_cuts[f];
                while (h < n_cuts && cuts[h] < q) sc.cuts.push_back(cuts[h++]);
                if (h == n_cuts || cuts[h] != q) sc.cuts.push_back(q);
            }
            sc.cuts.insert(sc.cuts.end(), cuts + h, cuts + n_cuts);
            cuts = sc.cuts.data();
            n_cuts = sc.cuts.size();
        }
    }
    if (sc.spans.size() < n_cuts) sc.spans.resize(n_cuts);
    if (sc.head_pos.size() < n_cuts) sc.head_pos.resize(n_cuts);
    auto* spans = sc.spans.data();
    std::int64_t* head_pos = sc.head_pos.data();
    std::size_t m = 0;
    for (std::size_t j = 0; j < n_cuts; ++j) {
        const std::int64_t next = cuts[j + 1 < n_cuts ? j + 1 : j];  // (a load either way: no branch)
        std::int64_t e = j + 1 < n_cuts ? next : n;
        const std::int64_t s = skip_class(kStripClass, p, cuts[j], e);
        while (e > s) {
            const u8 c = kStripClass[p[e - 1]];
            if (c == 0) break;
            if (c == 1) { --e; continue; }
            const int w = utf8::wide_space_before(p + s, p + e);
            if (!w) break;
            e -= w;
        }
        // The head: where a marker opening the step would start, after blanks and markdown #*> (none when the
        // step has nothing else).
        const std::int64_t h = skip_class(kHeadClass, p, s, e);
        spans[m] = {s, e};  // kept when not empty (blank lines are, in a random pattern)
        head_pos[m] = h < e ? h : -1;
        m += s < e;
    }
    sc.n_spans = m;
}

// Hash of a step with blanks removed and ASCII lower-cased: the normalised text is written to `buf` as UTF-8
// (an invalid sequence as U+FFFD, so equal hashes mean equal code points), then hashed 8 bytes at a time.
std::uint64_t normalized_hash(const u8* p, const u8* end, std::vector<u8>& buf) {
    static const struct Table {
        u8 value[128];
        u8 keep[128];
        Table() {
            for (int b = 0; b < 128; ++b) {
                value[b] = utf8::lower(static_cast<u8>(b));
                keep[b] = !utf8::ascii_blank(static_cast<u8>(b));
            }
        }
    } table;
    buf.resize(static_cast<std::size_t>(end - p) + 8);
    u8* out = buf.data();
    std::size_t k = 0;
    while (p < end) {
        const u8 b = *p;
        if (b < 0x80) {
            out[k] = table.value[b];
            k += table.keep[b];
            ++p;
            continue;
        }
        utf8::Unit u = utf8::decode(p, end);
        if (u.cp == 0xFFFD && !(u.len == 3 && p[0] == 0xEF && p[1] == 0xBF && p[2] == 0xBD)) {
            buf.resize(buf.size() + 2);  // an invalid byte (1 byte) becomes 3 bytes
            out = buf.data();
            out[k] = 0xEF; out[k + 1] = 0xBF; out[k + 2] = 0xBD;
            k += 3;
        } else if (u.cp != 0xA0 && u.cp != 0x3000) {
            for (int q = 0; q < u.len; ++q) out[k + q] = p[q];
            k += u.len;
        }
        p += u.len;
    }
    std::uint64_t h = 0x9E3779B97F4A7C15ull ^ k;
    std::size_t i = 0;
    for (; i + 8 <= k; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, out + i, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
    }
    std::uint64_t w = 0;
    std::memcpy(&w, out + i, k - i);
    h = (h ^ w) * 0x94D049BB133111EBull;
    return h ^ (h >> 29);
}

// One row: `base` is where the pattern ends of sc.ends are counted from, `cursor` indexes them (find_markers).
void parse_one(const Automaton& ac, const Kernels& kernels, const u8* text, std::int64_t size, const u8* base,
               std::size_t& cursor, Scratch& sc, Result& out) {
    auto [rb, re] = think_region(kernels, text, size);
    const u8* p = text + rb;
    const std::int64_t n = re - rb;
    find_markers(ac, p, n, p - base, sc, cursor);
    ScanCounts c;
    scan(kernels, p, n, sc, c);
    segment(p, n, sc);

    const std::size_t m = sc.n_spans;
    const auto* spans = sc.spans.data();

    // Heads: the kept marker (if any) starting at each step's first character after blanks and #*>. The heads
    // and the kept markers are merged as in segment(), one of them moving per iteration without a branch on
    // which; the categories of the markers are counted on the way.
    std::int64_t cat[kNumCategories] = {};
    if (sc.heads.size() < m + 1) sc.heads.resize(m + 1);
    const std::int64_t* head_pos = sc.head_pos.data();  // (segment(); -1 for a step of only #*>)
    int* heads = sc.heads.data();  // heads[m] is -1 (read ahead by the DAG walk)
    std::int64_t branching = 0;
    const std::size_t n_kept = sc.kept.size();
    {
        std::size_t j = 0, k = 0;
        while ((j < m) & (k < n_kept)) {
            const std::int64_t start = sc.kept[k].start, h = head_pos[j];
            const int category = sc.kept[k].category;
            const bool marker_first = start < h;  // else the step's head comes first: it is decided
            const bool at_head = start == h;
            const int head = category | -static_cast<int>(!at_head);  // category, else -1
            heads[j] = head;
            branching += (!marker_first) & ((head == kBacktrack) | (head == kExplore));
            cat[category] += marker_first | at_head;
            k += marker_first | at_head;
            j += !marker_first;
        }
        std::fill(heads + j, heads + m + 1, -1);
        for (; k < n_kept; ++k) ++cat[sc.kept[k].category];
    }

    // Dependency DAG, longest path by DP in step order: depth[j] is 1 + the depth of step j - 1 when step j opens
    // with a causal marker, and 1 + the depth of the first definition of each entity step j uses, where that
    // definition is in an earlier step. A single step has depth 0.
    if (sc.depth.size() < m) sc.depth.resize(m);
    std::int32_t* depth = sc.depth.data();
    std::int32_t max_depth = 0;
    const std::size_t n_uses = sc.uses.size(), n_defs = sc.defs.size();
    if (m >= 2 && n_uses && n_defs) {
        // Each definition's step (a branch-free merge with the step ends; one outside every step gets -1), then
        // the table of first definitions (in text order, so the earliest step of each key stays).
        if (sc.def_step.size() < n_defs) sc.def_step.resize(n_defs);
        std::int32_t* def_step = sc.def_step.data();
        std::size_t j = 0, d = 0;
        while ((d < n_defs) & (j < m)) {
            const std::int64_t pos = sc.defs[d].pos;
            const bool in = pos < spans[j].second;
            def_step[d] = static_cast<std::int32_t>(j) | -static_cast<std::int32_t>(!(in & (pos >= spans[j].first)));
            d += in;
            j += !in;
        }
        sc.first_defs.reset(n_defs, p + n);
        for (std::size_t q = 0; q < d; ++q)
            if (def_step[q] >= 0) sc.first_defs.insert_first(p + sc.defs[q].pos, sc.defs[q].len, def_step[q]);
        // The uses whose key has a definition (no use before the first definition has one), with the step of
        // its first definition: about a third of the uses after the first definition.
        if (sc.use_def.size() < n_uses) {
            sc.use_def.resize(n_uses);
            sc.use_pos.resize(n_uses);
        }
        std::int32_t* use_def = sc.use_def.data();
        std::int64_t* use_pos = sc.use_pos.data();
        std::size_t u = 0;
        for (const std::int64_t first_def = sc.defs[0].pos; u < n_uses && sc.uses[u].pos < first_def;) ++u;
        const std::size_t n_found = sc.first_defs.find_defined(sc.uses.begin() + u, n_uses - u, p, use_pos, use_def);
        // Those uses and the step ends merged: a use of step j counts a definition of an earlier step; a step
        // end stores the depth and starts the next step's. depth[j] is rewritten until its step ends, and read
        // only for earlier steps. Selects by masks: the compiler would branch on these random outcomes.
        j = 0;
        u = 0;
        std::int32_t cur = 0;
        while ((u < n_found) & (j < m)) {
            const std::int64_t pos = use_pos[u];
            const std::int32_t i = use_def[u];
            const std::int32_t in = -static_cast<std::int32_t>(pos < spans[j].second);
            const std::int32_t dep = -static_cast<std::int32_t>(
                (static_cast<std::uint32_t>(i) < static_cast<std::uint32_t>(j)) & (pos >= spans[j].first));
            const std::int32_t via = (depth[i & dep] + 1) & dep;
            depth[j] = cur;
            const std::int32_t next = (cur + 1) & -static_cast<std::int32_t>(heads[j + 1] == kCausal);
            cur = (std::max(cur, via) & in) | (next & ~in);
            max_depth = std::max(max_depth, cur);
            u -= in;
            j += 1 + in;
        }
        for (; j < m; ++j) {  // after the last use: the causal chain
            max_depth = std::max(max_depth, cur);
            cur = heads[j + 1] == kCausal ? cur + 1 : 0;
        }
    } else {
        std::int32_t cur = 0;
        for (std::size_t j = 1; j < m; ++j) {
            cur = heads[j] == kCausal ? cur + 1 : 0;
            max_depth = std::max(max_depth, cur);
        }
    }

    // Redundancy: distinct normalised steps. Equal normalised steps share a cheap signature (count, sum and sum
    // of squares of the non-blank ASCII bytes, lower-cased). A step whose signature is new is distinct; one that
    // repeats the first step of its signature byte for byte is not (the usual duplicate: "Hmm.", "Wait."); the
    // others get the exact normalised hash, and distinct steps are distinct (signature, hash) pairs. Hash tables
    // rather than sorting: the comparisons of a sort of random signatures are mispredicted branches.
    std::size_t distinct = m;
    if (m >= 2) {
        distinct = 0;
        sc.sig_first.reset(m);
        sc.sig_norms.reset(m);
        if (sc.first_hashed.size() < m) sc.first_hashed.resize(m);  // (set below when a step is a first one)
        for (std::size_t j = 0; j < m; ++j) {
            const auto& span = sc.spans[j];
            const std::int64_t len = span.second - span.first;
            const std::uint64_t sig = kernels.ascii_signature(p + span.first, len);
            bool inserted;
            const std::uint32_t first = sc.sig_first.find_or_insert(sig, 0, static_cast<std::uint32_t>(j), inserted);
            if (inserted) {
                sc.first_hashed[j] = 0;
                ++distinct;
                continue;
            }
            const auto& f0 = sc.spans[first];
            if (f0.second - f0.first == len && std::memcmp(p + f0.first, p + span.first, static_cast<std::size_t>(len)) == 0)
                continue;
            if (!sc.first_hashed[first]) {
                sc.sig_norms.find_or_insert(sig, normalized_hash(p + f0.first, p + f0.second, sc.norm_buf), 0, inserted);
                sc.first_hashed[first] = 1;
            }
            sc.sig_norms.find_or_insert(sig, normalized_hash(p + span.first, p + span.second, sc.norm_buf), 0, inserted);
            distinct += inserted;
        }
    }

    std::int64_t* f = out.ints;
    f[kChars] = c.chars;
    f[kSteps] = static_cast<std::int64_t>(m);
    f[kConnectives] = cat[kSequencing] + cat[kCausal] + cat[kConclusion] + cat[kContrast];
    f[kCausalCount] = cat[kCausal];
    f[kConclusionCount] = cat[kConclusion];
    f[kContrastCount] = cat[kContrast];
    f[kVerifyCount] = cat[kVerify];
    f[kBacktrackCount] = cat[kBacktrack];
    f[kExploreCount] = cat[kExplore];
    f[kEquations] = c.eq + c.display;
    f[kMathSpans] = c.inline_;
    f[kNumbers] = c.numbers;
    f[kDepDepth] = max_depth;
    f[kBranching] = branching;
    out.redundancy = m ? static_cast<float>(static_cast<double>(m - distinct) / static_cast<double>(m)) : 0.f;
    const std::int64_t total = c.cjk + c.letters;
    out.lang = (total > 0 && c.cjk * 10 >= total * 4) ? kChinese : (c.cjk * 20 <= total ? kEnglish : kMixed);
}

}  // namespace

Parser::Parser(const std::vector<MarkerRule>& rules) : automaton_(std::make_unique<Automaton>(rules)) {}
Parser::~Parser() = default;

template <typename Offset>
void Parser::parse(const std::uint8_t* data, std::int64_t data_size, const Offset* offsets, std::int64_t n,
                   const std::uint8_t* valid, int threads, const std::string& isa, MatrixView<std::int32_t> ints,
                   VectorView<float> redundancy, VectorView<std::uint8_t> lang, const Hooks& hooks) const {
    const Kernels& kernels = select_kernels(isa);
    if (n < 0) throw std::invalid_argument("parse: negative row count");
    if (ints.rows != kNumFeatures || ints.cols != n || redundancy.size != n || lang.size != n)
        throw std::invalid_argument("parse: output shapes do not match the row count");
    for (std::int64_t i = 0; i < n; ++i) {
        if (valid && !valid[i]) continue;
        if (offsets[i] < 0 || offsets[i] > offsets[i + 1] || static_cast<std::int64_t>(offsets[i + 1]) > data_size)
            throw std::invalid_argument("texts: row " + std::to_string(i) + " has offsets [" +
                                        std::to_string(offsets[i]) + ", " + std::to_string(offsets[i + 1]) +
                                        ") outside the data buffer of " + std::to_string(data_size) +
                                        " bytes; the arrow array is malformed (validate it with arr.validate(full=True))");
        if (static_cast<std::int64_t>(offsets[i + 1] - offsets[i]) > kMaxTextBytes)
            throw std::invalid_argument("texts: row " + std::to_string(i) + " has " +
                                        std::to_string(offsets[i + 1] - offsets[i]) +
                                        " bytes; a trace may have at most 2 GiB - 1 bytes (split it into parts)");
    }
    // Tasks are runs of rows of about kTaskBytes, so one huge text does not stall the rest.
    constexpr std::int64_t kTaskBytes = 1 << 18;
    std::vector<std::int64_t> task_begin{0};
    std::vector<std::int64_t> task_bytes;
    std::int64_t acc = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        acc += (valid && !valid[i]) ? 0 : static_cast<std::int64_t>(offsets[i + 1] - offsets[i]) + 64;
        if (acc >= kTaskBytes || i + 1 == n) {
            task_begin.push_back(i + 1);
            task_bytes.push_back(acc);
            acc = 0;
        }
    }
    const std::int64_t n_tasks = static_cast<std::int64_t>(task_bytes.size());
    const int nthreads = static_cast<int>(std::min<std::int64_t>(resolve_threads(threads), std::max<std::int64_t>(n_tasks, 1)));
    const Automaton& ac = *automaton_;
    parallel_for(
        n_tasks, nthreads, hooks,
        [&](std::int64_t t, int) {
            Scratch& sc = thread_scratch();
            // The bytes of the task's rows (contiguous in a well-formed array), for the automaton pass.
            std::int64_t lo = data_size, hi = 0;
            for (std::int64_t i = task_begin[t]; i < task_begin[t + 1]; ++i) {
                if ((valid && !valid[i]) || offsets[i] == offsets[i + 1]) continue;
                lo = std::min<std::int64_t>(lo, offsets[i]);
                hi = std::max<std::int64_t>(hi, offsets[i + 1]);
            }
            if (lo > hi) lo = hi = 0;
            find_pattern_ends(ac, data + lo, hi - lo, sc);
            std::size_t cursor = 0;
            for (std::int64_t i = task_begin[t]; i < task_begin[t + 1]; ++i) {
                Result r;
                const bool present = !valid || valid[i];
                const std::uint8_t* text = present ? data + offsets[i] : data;
                const std::int64_t size = present ? static_cast<std::int64_t>(offsets[i + 1] - offsets[i]) : 0;
                parse_one(ac, kernels, text, size, data + lo, cursor, sc, r);
                for (int f = 0; f < kNumFeatures; ++f) ints(f, i) = static_cast<std::int32_t>(r.ints[f]);  // (kMaxTextBytes)
                redundancy[i] = r.redundancy;
                lang[i] = r.lang;
            }
            if (hi - lo > kKeepScratchBytes) sc = Scratch();  // do not keep a huge text's buffers alive
        },
        [&](std::int64_t t) { return task_bytes[t]; });
}

template void Parser::parse<std::int32_t>(const std::uint8_t*, std::int64_t, const std::int32_t*, std::int64_t,
                                          const std::uint8_t*, int, const std::string&, MatrixView<std::int32_t>,
                                          VectorView<float>, VectorView<std::uint8_t>, const Hooks&) const;
template void Parser::parse<std::int64_t>(const std::uint8_t*, std::int64_t, const std::int64_t*, std::int64_t,
                                          const std::uint8_t*, int, const std::string&, MatrixView<std::int32_t>,
                                          VectorView<float>, VectorView<std::uint8_t>, const Hooks&) const;

std::string Parser::resolve_isa(const std::string& isa) { return select_kernels(isa).name; }

std::vector<std::pair<std::int64_t, std::int64_t>> Parser::spans(const std::uint8_t* text, std::int64_t size,
                                                                 const std::string& isa) const {
    const Kernels& kernels = select_kernels(isa);
    Scratch sc;
    auto [rb, re] = think_region(kernels, text, size);
    const u8* p = text + rb;
    const std::int64_t n = re - rb;
    find_pattern_ends(*automaton_, p, n, sc);
    std::size_t cursor = 0;
    find_markers(*automaton_, p, n, 0, sc, cursor);
    ScanCounts c;
    scan(kernels, p, n, sc, c);
    segment(p, n, sc);
    sc.spans.resize(sc.n_spans);
    for (auto& s : sc.spans) {
        s.first += rb;
        s.second += rb;
    }
    return sc.spans;
}

}  // namespace rbic::steps
