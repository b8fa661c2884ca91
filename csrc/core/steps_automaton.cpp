// Aho–Corasick construction for the marker lexicon.
#include "steps_automaton.hpp"

#include <algorithm>
#include <deque>
#include <set>

#include "steps_utf8.hpp"

namespace rbic::steps {

namespace {

std::vector<std::string> split_chars(const std::string& s) {
    std::vector<std::string> out;
    const auto* p = reinterpret_cast<const std::uint8_t*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        int len = *p < 0x80 ? 1 : utf8::decode(p, end).len;
        out.emplace_back(reinterpret_cast<const char*>(p), len);
        p += len;
    }
    return out;
}

std::string lower_ascii(std::string s) {
    for (char& c : s) c = static_cast<char>(utf8::lower(static_cast<std::uint8_t>(c)));
    return s;
}

}  // namespace

Automaton::Automaton(const std::vector<MarkerRule>& input) {
    std::set<std::string> seen;
    for (std::size_t r = 0; r < input.size(); ++r) {
        CompiledRule c;
        c.rule = input[r];
        c.rule.pattern = lower_ascii(c.rule.pattern);
        c.rule.followed_by = lower_ascii(c.rule.followed_by);
        for (auto& s : c.rule.not_followed_by) s = lower_ascii(s);
        for (auto& s : c.rule.not_preceded_by) s = lower_ascii(s);
        const std::string& pat = c.rule.pattern;
        if (pat.empty()) throw std::invalid_argument("lexicon rule " + std::to_string(r) + ": empty pattern");
        if (pat.find('\n') != std::string::npos || pat.find('\r') != std::string::npos)
            throw std::invalid_argument("lexicon rule " + std::to_string(r) + ": pattern contains a line break");
        if (c.rule.category < 0 || c.rule.category >= kNumCategories)
            throw std::invalid_argument("lexicon rule " + std::to_string(r) + ": category out of range");
        if (c.rule.initial < 0 || c.rule.initial > 2)
            throw std::invalid_argument("lexicon rule " + std::to_string(r) + ": initial must be 0, 1 or 2");
        if (!seen.insert(pat).second)
            throw std::invalid_argument("lexicon rule " + std::to_string(r) + ": duplicate pattern '" + pat + "'");
        max_len = std::max(max_len, pat.size());
        c.followed_by = split_chars(c.rule.followed_by);
        c.left_word = utf8::is_word(static_cast<std::uint8_t>(pat.front()));
        c.right_word = utf8::is_word(static_cast<std::uint8_t>(pat.back()));
        rules.push_back(std::move(c));
    }

    // Byte classes: every byte value used by a pattern gets its own class; upper-case ASCII shares the class
    // of its lower-case letter, which makes the match ASCII case-insensitive at no cost.
    std::array<std::uint32_t, 256> lower_class{};
    for (const auto& c : rules)
        for (unsigned char b : c.rule.pattern)
            if (!lower_class[b]) lower_class[b] = n_classes++;
    for (int b = 0; b < 256; ++b) byte_class[b] = lower_class[utf8::lower(static_cast<std::uint8_t>(b))];

    // Trie.
    std::vector<std::vector<std::int32_t>> go(1, std::vector<std::int32_t>(n_classes, -1));
    std::vector<std::vector<std::uint32_t>> own(1);
    for (std::uint32_t r = 0; r < rules.size(); ++r) {
        std::int32_t s = 0;
        for (unsigned char b : rules[r].rule.pattern) {
            std::uint32_t cls = byte_class[b];
            if (go[s][cls] < 0) {
                go[s][cls] = static_cast<std::int32_t>(go.size());
                go.emplace_back(n_classes, -1);
                own.emplace_back();
            }
            s = go[s][cls];
        }
        own[s].push_back(r);
    }
    const std::size_t n_states = go.size();

    // Failure links in BFS order; outputs accumulate along them; goto becomes the full DFA.
    std::vector<std::int32_t> fail(n_states, 0);
    std::vector<std::vector<std::uint32_t>> out = own;
    std::vector<std::int32_t> order;
    std::deque<std::int32_t> queue;
    order.push_back(0);
    for (std::uint32_t c = 0; c < n_classes; ++c) {
        if (go[0][c] < 0) {
            go[0][c] = 0;
        } else {
            fail[go[0][c]] = 0;
            queue.push_back(go[0][c]);
        }
    }
    while (!queue.empty()) {
        std::int32_t s = queue.front();
        queue.pop_front();
        order.push_back(s);
        const auto& fo = out[fail[s]];
        out[s].insert(out[s].end(), fo.begin(), fo.end());
        for (std::uint32_t c = 0; c < n_classes; ++c) {
            std::int32_t t = go[s][c];
            if (t < 0) {
                go[s][c] = go[fail[s]][c];
            } else {
                fail[t] = go[fail[s]][c];
                queue.push_back(t);
            }
        }
    }

    // Renumber: states without outputs first (root stays 0), then states with outputs, from the first state whose
    // offset reaches a power of two: `out_threshold` is that power, so an OR of states tests several at once
    // (find_pattern_ends). The rows skipped in between are never reached.
    std::vector<std::uint32_t> id(n_states);
    std::uint32_t next = 0;
    for (std::int32_t s : order)
        if (out[s].empty()) id[s] = next++;
    out_threshold = 1;
    while (out_threshold < next * n_classes) out_threshold <<= 1;
    next = (out_threshold + n_classes - 1) / n_classes;
    for (std::int32_t s : order)
        if (!out[s].empty()) id[s] = next++;
    const std::size_t n_rows = next;
    delta.assign(n_rows * n_classes, 0);
    std::vector<std::int32_t> by_id(n_rows, -1);
    for (std::size_t s = 0; s < n_states; ++s) {
        by_id[id[s]] = static_cast<std::int32_t>(s);
        for (std::uint32_t c = 0; c < n_classes; ++c) delta[id[s] * n_classes + c] = id[go[s][c]] * n_classes;
    }
    out_begin.assign(n_rows + 1, 0);
    for (std::size_t k = 0; k < n_rows; ++k) {
        out_begin[k] = static_cast<std::uint32_t>(out_rules.size());
        if (by_id[k] < 0) continue;
        const auto& o = out[by_id[k]];
        out_rules.insert(out_rules.end(), o.begin(), o.end());
    }
    out_begin[n_rows] = static_cast<std::uint32_t>(out_rules.size());
}

}  // namespace rbic::steps
