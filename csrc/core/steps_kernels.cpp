// Portable kernels of the trace parser and the run-time choice between them and the AVX-512 ones.
#include "steps_kernels.hpp"

#include <cstring>
#include <stdexcept>

#include "rbic/build_info.hpp"
#include "steps_simd.hpp"

namespace rbic::steps {

namespace {

void portable_event_masks(const std::uint8_t* p, std::int64_t n, std::uint64_t* masks, ByteCounts& counts) {
    counts = ByteCounts{};
#if defined(__SSE2__)
    // As the AVX-512 kernel: non-ASCII text decoded by masks while it stays valid 2/3-byte UTF-8, else every
    // non-ASCII byte an event (a second pass).
    std::uint64_t carry_lead = 0, invalid = 0;
    for (std::int64_t base = 0; base < n; base += 64) {
        std::uint8_t buf[96];
        const std::uint64_t in = simd::inside(n, base);
        const std::uint8_t* q = simd::block(p, n, base, buf);
        const simd::EventClasses c = simd::detail::event_classes64(q);
        std::uint64_t equals;
        std::uint64_t word = simd::block_events(c, simd::byte_before(p, base), q[64], equals) & in;
        if ((c.nonascii & in) | carry_lead) {
            const simd::Utf8Classes u = simd::detail::utf8_classes64(q);
            invalid |= simd::utf8_invalid(u, in, carry_lead);
            counts.continuations += __builtin_popcountll(u.cont & in);
            counts.cjk += __builtin_popcountll(u.cjk & in);
            word |= u.sentence_end & in;
        }
        counts.letters += __builtin_popcountll(c.letters & in);
        counts.equals += __builtin_popcountll(equals & in);
        counts.events += __builtin_popcountll(word);
        masks[base / 64] = word;
    }
    counts.utf8_counted = !(invalid | carry_lead);
    if (!counts.utf8_counted) {
        counts.continuations = counts.cjk = 0;
        for (std::int64_t base = 0; base < n; base += 64) {
            std::uint8_t buf[96];
            const std::uint64_t nonascii = simd::detail::nonascii_mask64(simd::block(p, n, base, buf)) & simd::inside(n, base);
            counts.events += __builtin_popcountll(nonascii & ~masks[base / 64]);
            masks[base / 64] |= nonascii;
        }
    }
#else
    for (std::int64_t base = 0; base < n; base += 64) {
        std::uint64_t word = 0;
        const std::int64_t stop = n - base < 64 ? n - base : 64;
        for (std::int64_t k = 0; k < stop; ++k) {
            const std::int64_t i = base + k;
            // The edges are left to the scalar code of scan(), which reads no byte outside [0, n).
            if (i == 0 || i + 1 >= n || simd::scan_event(p, i)) word |= 1ull << k;
            counts.letters += utf8::is_letter(p[i]);
            counts.equals += simd::equation_sign(p, i, n);
        }
        counts.events += __builtin_popcountll(word);
        masks[base / 64] = word;
    }
#endif
}

std::int64_t portable_find_tag(const std::uint8_t* p, std::int64_t n) {
    for (std::int64_t i = 0; i < n;) {
        const void* q = std::memchr(p + i, '<', static_cast<std::size_t>(n - i));
        if (!q) break;
        i = static_cast<const std::uint8_t*>(q) - p;
        if (i + 1 < n && (p[i + 1] == 't' || p[i + 1] == '/')) return i;
        ++i;
    }
    return n;
}

const Kernels kPortable{"portable", portable_event_masks, simd::ascii_signature, portable_find_tag};

}  // namespace

const Kernels& portable_kernels() { return kPortable; }

const Kernels& select_kernels(const std::string& isa) {
    if (isa != "auto" && isa != "avx512" && isa != "avx2" && isa != "portable")
        throw std::invalid_argument("isa must be 'auto', 'avx512', 'avx2' or 'portable', got '" + isa + "'");
    if (isa == "portable") return kPortable;
    if (isa != "avx2" && cpu_has_avx512() && avx512_kernels()) return *avx512_kernels();
    if (cpu_has_avx2() && avx2_kernels()) return *avx2_kernels();
    return kPortable;
}

}  // namespace rbic::steps
