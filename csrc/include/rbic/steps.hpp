// Reasoning-trace parser: step segmentation and logical-complexity features (DESIGN.md §7).
// Feature definitions live in one place: the TraceFeatures docstring (python/rbic_fast/steps.py) and the
// README table; python/rbic_fast/reference.py implements the same definitions in pure Python.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rbic/hooks.hpp"
#include "rbic/types.hpp"

namespace rbic::steps {

/// Marker categories (lexicon order).
enum Category : int { kSequencing = 0, kCausal, kConclusion, kContrast, kVerify, kBacktrack, kExplore, kNumCategories };

/// Integer feature rows of the output matrix, in this order.
enum Feature : int {
    kChars = 0, kSteps, kConnectives, kCausalCount, kConclusionCount, kContrastCount, kVerifyCount,
    kBacktrackCount, kExploreCount, kEquations, kMathSpans, kNumbers, kDepDepth, kBranching, kNumFeatures
};

/// Language codes of the `lang` output.
enum Lang : std::uint8_t { kEnglish = 0, kChinese = 1, kMixed = 2 };

/// The longest text parse() takes, in bytes: 2 GiB - 1, so that every feature fits 32 bits.
constexpr std::int64_t kMaxTextBytes = 0x7FFFFFFF;

/// One lexicon phrase with its disambiguation rules. Strings are UTF-8 with ASCII letters lower-cased.
struct MarkerRule {
    std::string pattern;
    int category = 0;
    int initial = 0;                           ///< 0 anywhere, 1 sentence-initial, 2 clause-initial
    std::string followed_by;                   ///< allowed next characters (blanks and end always allowed)
    std::vector<std::string> not_followed_by;  ///< reject when the text continues with one of these
    std::vector<std::string> not_preceded_by;  ///< reject when the text before ends with one of these
    bool setvar = false;                       ///< DESIGN's 设X= rule
};

class Automaton;

/// A compiled lexicon. Immutable after construction; parse() may run concurrently.
class Parser {
public:
    /// @param[in] rules the lexicon; throws std::invalid_argument on an empty/duplicate pattern or a bad category.
    explicit Parser(const std::vector<MarkerRule>& rules);
    ~Parser();
    Parser(const Parser&) = delete;
    Parser& operator=(const Parser&) = delete;

    /// Parses rows [offsets[i], offsets[i+1]) of `data`.
    /// @param[in] data UTF-8 bytes (invalid sequences read as U+FFFD); @param[in] offsets n+1 row offsets.
    /// @param[in] valid optional per-row flags (0 = null row, parsed as empty); may be null.
    /// @param[in] isa byte-parallel kernels: "auto" (the fastest the CPU runs), "avx512" or "portable"; every
    ///            choice gives identical results. Throws std::invalid_argument for another name.
    /// @param[out] ints kNumFeatures x n matrix (one row per feature); @param[out] redundancy, lang length n.
    /// A row may hold at most kMaxTextBytes bytes (every count then fits the 32-bit outputs); a longer one throws
    /// std::invalid_argument naming it.
    template <typename Offset>
    void parse(const std::uint8_t* data, std::int64_t data_size, const Offset* offsets, std::int64_t n,
               const std::uint8_t* valid, int threads, const std::string& isa, MatrixView<std::int32_t> ints,
               VectorView<float> redundancy, VectorView<std::uint8_t> lang, const Hooks& hooks) const;

    /// The steps of one text as [begin, end) byte ranges of `text` (`isa` as in parse()).
    std::vector<std::pair<std::int64_t, std::int64_t>> spans(const std::uint8_t* text, std::int64_t size,
                                                             const std::string& isa = "auto") const;

    /// The kernels `isa` resolves to on this CPU ("avx512" or "portable").
    static std::string resolve_isa(const std::string& isa);

private:
    std::unique_ptr<Automaton> automaton_;
};

}  // namespace rbic::steps
