// Standalone benchmark of the native trace parser, without Python, for profiling one build of csrc/ (perf,
// callgrind). To compare two trees side by side use tools/steps_ab.sh, which runs both in one process.
// Usage: steps_driver RULES DATA OFFSETS REPEATS [isa]
//   RULES: one lexicon rule per line, fields separated by \x1f (pattern, category, initial, followed_by,
//   not_followed_by and not_preceded_by with items separated by \x1e, setvar 0/1); DATA: the UTF-8 bytes;
//   OFFSETS: n + 1 little-endian int64 row offsets. Prints the best MB per CPU-second of REPEATS one-thread
//   parses, and a hash of the integer features (equal hashes: the builds agree). With STEPS_DUMP=PATH, also
//   writes the features there (int64, [feature][row]) to find the rows where two builds differ.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "rbic/steps.hpp"
#include "steps_files.hpp"

namespace {

// The parser's feature type (the driver builds against older source trees too, whose outputs were int64).
template <typename T>
T feature_type(void (rbic::steps::Parser::*)(const std::uint8_t*, std::int64_t, const std::int64_t*, std::int64_t,
                                             const std::uint8_t*, int, const std::string&, rbic::MatrixView<T>,
                                             rbic::VectorView<float>, rbic::VectorView<std::uint8_t>,
                                             const rbic::Hooks&) const);
using FeatureInt = decltype(feature_type(&rbic::steps::Parser::parse<std::int64_t>));

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: %s RULES DATA OFFSETS REPEATS [isa]\n", argv[0]);
        return 2;
    }
    const auto rules = steps_files::load_rules<rbic::steps::MarkerRule>(argv[1]);
    const auto data = steps_files::slurp(argv[2]);
    const auto offsets = steps_files::load_offsets(argv[3]);
    const auto n = static_cast<std::int64_t>(offsets.size()) - 1;
    const rbic::steps::Parser parser(rules);
    std::vector<FeatureInt> ints(static_cast<std::size_t>(rbic::steps::kNumFeatures * n));
    std::vector<float> redundancy(static_cast<std::size_t>(n));
    std::vector<std::uint8_t> lang(static_cast<std::size_t>(n));
    const std::string isa = argc > 5 ? argv[5] : "auto";
    double best = 1e300;
    for (int r = 0; r < std::atoi(argv[4]); ++r) {
        const double t = steps_files::cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
        parser.parse(reinterpret_cast<const std::uint8_t*>(data.data()), static_cast<std::int64_t>(data.size()),
                     offsets.data(), n, nullptr, 1, isa, {ints.data(), rbic::steps::kNumFeatures, n},
                     {redundancy.data(), n}, {lang.data(), n}, rbic::Hooks{});
        best = std::min(best, steps_files::cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - t);
    }
    if (const char* dump = std::getenv("STEPS_DUMP")) {  // the features, [feature][row] int64, to compare rows
        const std::vector<std::int64_t> wide(ints.begin(), ints.end());
        std::ofstream(dump, std::ios::binary).write(reinterpret_cast<const char*>(wide.data()),
                                                    static_cast<std::streamsize>(wide.size() * sizeof(std::int64_t)));
    }
    std::uint64_t h = 0;
    for (std::int64_t v : ints) h = h * 1000003u + static_cast<std::uint64_t>(v);
    std::printf("%.1f %016llx\n", static_cast<double>(data.size()) / 1e6 / best, static_cast<unsigned long long>(h));
    return 0;
}
