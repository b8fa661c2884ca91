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
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "rbic/steps.hpp"

namespace {

std::vector<char> slurp(const char* path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error(std::string("cannot read ") + path);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out(1);
    for (char c : s) {
        if (c == sep) out.emplace_back();
        else out.back() += c;
    }
    return out;
}

// The parser's feature type (the driver builds against older source trees too, whose outputs were int64).
template <typename T>
T feature_type(void (rbic::steps::Parser::*)(const std::uint8_t*, std::int64_t, const std::int64_t*, std::int64_t,
                                             const std::uint8_t*, int, const std::string&, rbic::MatrixView<T>,
                                             rbic::VectorView<float>, rbic::VectorView<std::uint8_t>,
                                             const rbic::Hooks&) const);
using FeatureInt = decltype(feature_type(&rbic::steps::Parser::parse<std::int64_t>));

double cpu_seconds() {
    timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: %s RULES DATA OFFSETS REPEATS [isa]\n", argv[0]);
        return 2;
    }
    std::vector<rbic::steps::MarkerRule> rules;
    std::ifstream rule_file(argv[1]);
    for (std::string line; std::getline(rule_file, line);) {
        const auto f = split(line, '\x1f');
        if (f.size() != 7) {
            std::fprintf(stderr, "%s: a rule line needs 7 fields, got %zu\n", argv[1], f.size());
            return 2;
        }
        rbic::steps::MarkerRule r;
        r.pattern = f[0];
        r.category = std::stoi(f[1]);
        r.initial = std::stoi(f[2]);
        r.followed_by = f[3];
        if (!f[4].empty()) r.not_followed_by = split(f[4], '\x1e');
        if (!f[5].empty()) r.not_preceded_by = split(f[5], '\x1e');
        r.setvar = f[6] == "1";
        rules.push_back(r);
    }
    const auto data = slurp(argv[2]);
    const auto offset_bytes = slurp(argv[3]);
    std::vector<std::int64_t> offsets(offset_bytes.size() / 8);
    std::copy(offset_bytes.begin(), offset_bytes.end(), reinterpret_cast<char*>(offsets.data()));
    const auto n = static_cast<std::int64_t>(offsets.size()) - 1;
    const rbic::steps::Parser parser(rules);
    std::vector<FeatureInt> ints(static_cast<std::size_t>(rbic::steps::kNumFeatures * n));
    std::vector<float> redundancy(static_cast<std::size_t>(n));
    std::vector<std::uint8_t> lang(static_cast<std::size_t>(n));
    const std::string isa = argc > 5 ? argv[5] : "auto";
    double best = 1e300;
    for (int r = 0; r < std::atoi(argv[4]); ++r) {
        const double t = cpu_seconds();
        parser.parse(reinterpret_cast<const std::uint8_t*>(data.data()), static_cast<std::int64_t>(data.size()),
                     offsets.data(), n, nullptr, 1, isa, {ints.data(), rbic::steps::kNumFeatures, n},
                     {redundancy.data(), n}, {lang.data(), n}, rbic::Hooks{});
        best = std::min(best, cpu_seconds() - t);
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
