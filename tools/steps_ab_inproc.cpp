// In-process A/B benchmark of two source trees of the native trace parser (built by tools/steps_ab.sh): both
// trees are compiled into this one binary, tree A under namespace rbic_a and tree B under rbic_b (-Drbic=...), and
// the two parsers alternate parse by parse on the same bytes. On a shared machine the load drifts over seconds;
// pairs of parses a fraction of a second apart see the same load, so the median of the per-pair ratios resolves
// about 1 % where alternating processes resolve about 5 %.
// Usage: steps_ab_inproc RULES DATA OFFSETS PAIRS [isa | isa_a,isa_b]   (files as for tools/steps_driver.cpp; two
// kernel sets, e.g. "portable,avx2", compare them on one tree)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "steps_ab_decl.hpp"  // rbic_a::steps and rbic_b::steps (written by tools/steps_ab.sh)
#include "steps_files.hpp"

namespace {

// One tree's parser with its own outputs; run() returns the thread CPU seconds of one single-threaded parse.
template <typename Parser, typename Rule, typename Hooks, int kFeatures>
struct Side {
    Parser parser;
    std::vector<std::int32_t> ints;
    std::vector<float> redundancy;
    std::vector<std::uint8_t> lang;
    Side(const char* rules, std::int64_t n)
        : parser(steps_files::load_rules<Rule>(rules)), ints(static_cast<std::size_t>(kFeatures * n)),
          redundancy(static_cast<std::size_t>(n)), lang(static_cast<std::size_t>(n)) {}
    double run(const std::vector<char>& data, const std::vector<std::int64_t>& offsets, const std::string& isa) {
        const std::int64_t n = static_cast<std::int64_t>(offsets.size()) - 1;
        const double t = steps_files::cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
        parser.parse(reinterpret_cast<const std::uint8_t*>(data.data()), static_cast<std::int64_t>(data.size()),
                     offsets.data(), n, nullptr, 1, isa, {ints.data(), kFeatures, n}, {redundancy.data(), n},
                     {lang.data(), n}, Hooks{});
        return steps_files::cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - t;
    }
};

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: %s RULES DATA OFFSETS PAIRS [isa | isa_a,isa_b]\n", argv[0]);
        return 2;
    }
    const auto data = steps_files::slurp(argv[2]);
    const auto offsets = steps_files::load_offsets(argv[3]);
    const int pairs = std::max(1, std::atoi(argv[4]));
    const std::string isas = argc > 5 ? argv[5] : "auto";
    const std::size_t comma = isas.find(',');
    const std::string isa_a = isas.substr(0, comma), isa_b = comma == std::string::npos ? isas : isas.substr(comma + 1);
    const std::int64_t n = static_cast<std::int64_t>(offsets.size()) - 1;
    const double mb = static_cast<double>(offsets.back() - offsets.front()) / 1e6;
    Side<rbic_a::steps::Parser, rbic_a::steps::MarkerRule, rbic_a::Hooks, rbic_a::steps::kNumFeatures> a(argv[1], n);
    Side<rbic_b::steps::Parser, rbic_b::steps::MarkerRule, rbic_b::Hooks, rbic_b::steps::kNumFeatures> b(argv[1], n);
    a.run(data, offsets, isa_a);  // (warm-up: page faults, scratch buffers)
    b.run(data, offsets, isa_b);
    std::vector<double> ta, tb, ratios;
    for (int k = 0; k < pairs; ++k) {
        double x, y;
        if (k % 2) {  // (each side goes first in half of the pairs)
            y = b.run(data, offsets, isa_b);
            x = a.run(data, offsets, isa_a);
        } else {
            x = a.run(data, offsets, isa_a);
            y = b.run(data, offsets, isa_b);
        }
        ta.push_back(x);
        tb.push_back(y);
        ratios.push_back(x / y);
    }
    const bool agree = a.ints == b.ints && a.redundancy == b.redundancy && a.lang == b.lang;
    std::sort(ratios.begin(), ratios.end());
    const double best_a = *std::min_element(ta.begin(), ta.end()), best_b = *std::min_element(tb.begin(), tb.end());
    std::printf("%.1f MB, %d pairs: best A %.1f, B %.1f MB per CPU-second; speed B/A: median %.3f "
                "(quartiles %.3f-%.3f, B faster in %d/%d), ratio of bests %.3f; outputs %s\n",
                mb, pairs, mb / best_a, mb / best_b, ratios[ratios.size() / 2], ratios[ratios.size() / 4],
                ratios[3 * ratios.size() / 4],
                static_cast<int>(std::count_if(ratios.begin(), ratios.end(), [](double r) { return r > 1; })), pairs,
                best_a / best_b, agree ? "agree" : "DIFFER");
    return agree ? 0 : 1;
}
