// Aho–Corasick automaton over ASCII-case-folded UTF-8 bytes for the marker lexicon (private).
#pragma once

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "rbic/steps.hpp"

namespace rbic::steps {

/// A compiled rule: the MarkerRule plus what the matcher needs precomputed.
struct CompiledRule {
    MarkerRule rule;
    std::vector<std::string> followed_by;  ///< followed_by split into characters
    bool left_word = false;                ///< needs a word boundary before (pattern starts with [a-z0-9_])
    bool right_word = false;               ///< needs a word boundary after
};

/// The automaton as a dense DFA over byte classes. States are renumbered so that every state with an
/// output comes last: a single comparison with `out_threshold` (a power of two) tells whether a byte ends some
/// pattern.
/// Transition entries are pre-multiplied by the class count, so the hot loop is one load per byte.
class Automaton {
public:
    explicit Automaton(const std::vector<MarkerRule>& rules);

    std::vector<CompiledRule> rules;
    std::array<std::uint32_t, 256> byte_class{};  ///< byte -> class (0: in no pattern)
    std::uint32_t n_classes = 1;
    std::vector<std::uint32_t> delta;             ///< [state * n_classes + class] -> next state * n_classes
    std::uint32_t out_threshold = 1;              ///< states * n_classes at or above this have outputs (2^k)
    std::vector<std::uint32_t> out_begin;         ///< per state row: range into out_rules
    std::vector<std::uint32_t> out_rules;         ///< rule indices, all patterns ending in the state
    std::size_t max_len = 0;                      ///< longest pattern, in bytes
};

}  // namespace rbic::steps
