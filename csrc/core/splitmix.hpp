// splitmix64 (private): a small, fully specified generator, so a seed means the same thing on every platform
// (unlike std::shuffle or the std distributions).
#pragma once

#include <cstdint>

namespace rbic {

struct SplitMix64 {
    std::uint64_t s;
    std::uint64_t next() {
        std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    /// A draw from [0, k) by the high half of a 64 x 64-bit product (bias < k / 2^64).
    std::uint64_t below(std::uint64_t k) {
        return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next()) * k) >> 64);
    }
};

}  // namespace rbic
