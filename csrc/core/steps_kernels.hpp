// Byte-parallel kernels of the trace parser (private), chosen at run time: AVX-512BW where the CPU has it,
// else AVX2, else the portable version (SSE2 on x86-64, scalar elsewhere). Every kernel gives identical results on
// every path; RBIC_STEPS_ISA (python/rbic_fast/steps.py) forces one for tests and comparisons.
#pragma once

#include <cstdint>
#include <string>

namespace rbic::steps {

/// Order-independent counts of a text, taken by the event-mask kernel.
struct ByteCounts {
    std::int64_t letters = 0;  ///< ASCII letters
    std::int64_t equals = 0;   ///< '=' not after one of =<>! and not before = or > (simd::equation_sign)
    std::int64_t events = 0;   ///< set bits of the event masks (kernel-dependent; scan() sizes buffers with it)
    /// True when the kernel decoded the non-ASCII text itself: every multi-byte sequence is valid UTF-8 of 2 or
    /// 3 bytes (no 4-byte ones). Then `continuations` and `cjk` below hold for the whole text, and the only
    /// non-ASCII events are the lead bytes of the full-width sentence ends 。！？. Otherwise every non-ASCII byte
    /// is an event and scan() decodes the text's non-ASCII runs itself.
    bool utf8_counted = false;
    std::int64_t continuations = 0;  ///< (utf8_counted) continuation bytes: characters = bytes - continuations
    std::int64_t cjk = 0;            ///< (utf8_counted) CJK ideographs (utf8::is_cjk)
};

struct Kernels {
    const char* name;
    /// Event bits of [p, p + n) into masks[0, (n + 63) / 64): bit i is set when scan() must look at byte i
    /// (simd::scan_event with the bytes outside [0, n) read as NUL; extra bits are allowed, none missing; see
    /// ByteCounts::utf8_counted for the non-ASCII bytes).
    void (*event_masks)(const std::uint8_t* p, std::int64_t n, std::uint64_t* masks, ByteCounts& counts);
    /// simd::ascii_signature: count, sum and sum of squares of the non-blank ASCII bytes, lower-cased, mixed.
    std::uint64_t (*ascii_signature)(const std::uint8_t* p, std::int64_t n);
    /// Position of the first '<' followed by 't' or '/' in [p, p + n) (where "<think>" or "</think>" can start),
    /// or n. Only these '<' need a look: GSM8K annotations "<<…>>" and comparisons are skipped in the kernel.
    std::int64_t (*find_tag)(const std::uint8_t* p, std::int64_t n);
};

/// The portable kernels.
const Kernels& portable_kernels();
/// The AVX-512BW kernels, or nullptr when this build has none.
const Kernels* avx512_kernels();
/// The AVX2 kernels, or nullptr when this build has none.
const Kernels* avx2_kernels();
/// Kernels for `isa` ("auto": the fastest this CPU runs; "avx512", "avx2", "portable"). Throws
/// std::invalid_argument for another name; a set the CPU cannot run falls back to the fastest one below it
/// (avx512 -> avx2 -> portable), so "avx512" is "auto".
const Kernels& select_kernels(const std::string& isa);

}  // namespace rbic::steps
