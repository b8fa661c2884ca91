// File reading shared by the parser's standalone tools (steps_driver.cpp, steps_ab_inproc.cpp): the rules file,
// the UTF-8 data and the int64 row offsets, as written by tools/steps_ab.sh.
#pragma once

#include <cstdint>
#include <ctime>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace steps_files {

inline std::vector<char> slurp(const char* path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error(std::string("cannot read ") + path);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

inline std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out(1);
    for (char c : s) {
        if (c == sep) out.emplace_back();
        else out.back() += c;
    }
    return out;
}

/// One lexicon rule per line, fields separated by \x1f (pattern, category, initial, followed_by, not_followed_by
/// and not_preceded_by with items separated by \x1e, setvar 0/1). Rule: a MarkerRule of any tree's namespace.
template <typename Rule>
std::vector<Rule> load_rules(const char* path) {
    std::vector<Rule> rules;
    std::ifstream file(path);
    if (!file) throw std::runtime_error(std::string("cannot read ") + path);
    for (std::string line; std::getline(file, line);) {
        const auto f = split(line, '\x1f');
        if (f.size() != 7)
            throw std::runtime_error(std::string(path) + ": a rule line needs 7 fields, got " + std::to_string(f.size()));
        Rule r;
        r.pattern = f[0];
        r.category = std::stoi(f[1]);
        r.initial = std::stoi(f[2]);
        r.followed_by = f[3];
        if (!f[4].empty()) r.not_followed_by = split(f[4], '\x1e');
        if (!f[5].empty()) r.not_preceded_by = split(f[5], '\x1e');
        r.setvar = f[6] == "1";
        rules.push_back(r);
    }
    return rules;
}

/// n + 1 little-endian int64 row offsets.
inline std::vector<std::int64_t> load_offsets(const char* path) {
    const auto bytes = slurp(path);
    std::vector<std::int64_t> offsets(bytes.size() / 8);
    std::copy(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(8 * offsets.size()),
              reinterpret_cast<char*>(offsets.data()));
    if (offsets.size() < 1) throw std::runtime_error(std::string(path) + ": no offsets");
    return offsets;
}

/// CPU seconds of `clock` (CLOCK_PROCESS_CPUTIME_ID or CLOCK_THREAD_CPUTIME_ID).
inline double cpu_seconds(clockid_t clock) {
    timespec t;
    clock_gettime(clock, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

}  // namespace steps_files
