// Portable kernels of the trace parser and the run-time choice between them and the AVX-512 ones.
#include "steps_kernels.hpp"

#include <cstring>
#include <stdexcept>

#include "rbic/build_info.hpp"
#include "steps_simd.hpp"

namespace rbic::steps {

namespace {

#if defined(__SSE2__)
struct Sse2Blocks {
    static simd::EventClasses classes(const std::uint8_t* q) { return simd::detail::event_classes64(q); }
    static simd::Utf8Classes utf8(const std::uint8_t* q) { return simd::detail::utf8_classes64(q); }
    static std::uint64_t nonascii(const std::uint8_t* q) { return simd::detail::nonascii_mask64(q); }
};
#endif

void portable_event_masks(const std::uint8_t* p, std::int64_t n, std::uint64_t* masks, ByteCounts& counts) {
#if defined(__SSE2__)
    simd::event_masks_by_blocks<Sse2Blocks>(p, n, masks, counts);
#else
    counts = ByteCounts{};
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
