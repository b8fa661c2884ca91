// libFuzzer harness for the trace parser: arbitrary bytes (invalid UTF-8, NUL, huge lines) as rows of an arrow
// string array, with a small lexicon that exercises every rule. Built and run by tools/fuzz.sh steps under
// AddressSanitizer + UndefinedBehaviorSanitizer; any crash, out-of-bounds read or UB aborts the run.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "rbic/steps.hpp"

namespace {

const rbic::steps::Parser& parser() {
    using rbic::steps::MarkerRule;
    static const rbic::steps::Parser p([] {
        std::vector<MarkerRule> rules;
        auto add = [&](const char* pat, int cat) {
            MarkerRule r;
            r.pattern = pat;
            r.category = cat;
            rules.push_back(r);
            return &rules.back();
        };
        add("wait", 5);
        add("but wait", 5);
        add("so", 1)->initial = 1;
        add("check", 4);
        add("let's try", 6);
        MarkerRule* r = add("\xE7\xAD\x89\xE7\xAD\x89", 5);  // 等等
        r->initial = 2;
        r->followed_by = "\xEF\xBC\x8C,";
        r = add("\xE5\x8D\xB3", 1);  // 即
        r->not_followed_by = {"\xE4\xBD\xBF"};
        r->not_preceded_by = {"\xE7\xAB\x8B"};
        add("\xE8\xAE\xBE", 6)->setvar = true;  // 设
        add("first", 0);
        return rules;
    }());
    return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // The first byte picks how the input is cut into rows (and which rows are null); the rest is the text.
    if (size == 0) return 0;
    const std::uint8_t mode = data[0];
    const std::uint8_t* text = data + 1;
    const std::int64_t n_bytes = static_cast<std::int64_t>(size - 1);
    // Copy into an exact-size heap buffer so ASan catches any read past the end.
    std::vector<std::uint8_t> buf(text, text + n_bytes);
    const std::int64_t rows = 1 + (mode & 3);
    std::vector<std::int64_t> offsets(rows + 1);
    for (std::int64_t i = 0; i <= rows; ++i) offsets[i] = n_bytes * i / rows;
    std::vector<std::uint8_t> valid(rows, 1);
    if (mode & 4) valid[0] = 0;
    // Every kernel set (AVX-512 and AVX2 where the CPU has them, and the portable one) must give identical results.
    constexpr int kSets = 3;
    std::vector<std::int32_t> ints[kSets];
    std::vector<float> red[kSets];
    std::vector<std::uint8_t> lang[kSets];
    const char* isas[kSets] = {"portable", "avx512", "avx2"};
    for (int k = 0; k < kSets; ++k) {
        ints[k].resize(rbic::steps::kNumFeatures * rows);
        red[k].resize(rows);
        lang[k].resize(rows);
        parser().parse(buf.data(), n_bytes, offsets.data(), rows, (mode & 4) ? valid.data() : nullptr,
                       1 + ((mode >> 3) & 1), isas[k],
                       rbic::MatrixView<std::int32_t>(ints[k].data(), rbic::steps::kNumFeatures, rows),
                       rbic::VectorView<float>(red[k].data(), rows), rbic::VectorView<std::uint8_t>(lang[k].data(), rows),
                       {});
    }
    for (int k = 1; k < kSets; ++k)
        if (ints[0] != ints[k] || lang[0] != lang[k] || std::memcmp(red[0].data(), red[k].data(), rows * sizeof(float)) != 0)
            __builtin_trap();
    const auto spans = parser().spans(buf.data(), n_bytes, "portable");
    for (int k = 1; k < kSets; ++k)
        if (spans != parser().spans(buf.data(), n_bytes, isas[k])) __builtin_trap();
    std::int64_t last = 0;
    for (const auto& s : spans) {
        if (s.first < last || s.second <= s.first || s.second > n_bytes) __builtin_trap();  // ordered, in bounds
        last = s.second;
    }
    if (rows == 1 && !(mode & 4) && static_cast<std::int64_t>(spans.size()) != ints[0][rbic::steps::kSteps]) __builtin_trap();
    return 0;
}
