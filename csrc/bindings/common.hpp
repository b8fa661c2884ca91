// Shared pybind11 helpers: hooks that reach Python, and the GIL-free call wrapper.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "rbic/hooks.hpp"
#include "rbic/types.hpp"

namespace rbic_py {

namespace py = pybind11;

/// Hooks that check for Ctrl-C and call `progress(done, total)` (a Python callable or None).
/// Both take the GIL; the core calls them from the calling thread only.
inline rbic::Hooks make_hooks(py::object progress) {
    rbic::Hooks hooks;
    hooks.interrupt = [] {
        py::gil_scoped_acquire gil;
        return PyErr_CheckSignals() != 0;
    };
    if (!progress.is_none()) {
        // A borrowed pointer is enough: the hooks live only for the bound call, which holds `progress`.
        auto* cb = progress.ptr();
        hooks.progress = [cb](std::int64_t done, std::int64_t total) {
            py::gil_scoped_acquire gil;
            py::handle callback(cb);
            callback(done, total);
        };
    }
    return hooks;
}

/// Runs `fn` with the GIL released. rbic::Interrupted becomes the pending KeyboardInterrupt.
template <typename Fn>
void call_nogil(Fn&& fn) {
    try {
        py::gil_scoped_release nogil;
        std::forward<Fn>(fn)();
    } catch (const rbic::Interrupted&) {
        if (PyErr_Occurred()) throw py::error_already_set();
        throw py::value_error("interrupted");  // unreachable in practice: interrupts come from signals
    }
}

/// Advises the kernel to back a fresh array (not yet written) with base pages instead of transparent huge
/// pages, which numpy requests for arrays of 4 MB or more. For outputs written once in a single pass: on the
/// development VM, first writes to fresh huge pages ran at 0.3-0.6 GB/s whenever the host had reclaimed the
/// memory, base pages at about 2.2 GB/s; on a 1 GB parse (240 MB of outputs) that was 15 % of the time. Without
/// the host's reclaim, base pages cost about 0.03 s more per GB of outputs. A no-op outside Linux and below 4 MB.
inline void prefer_base_pages(void* data, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_NOHUGEPAGE)
    if (bytes < (std::size_t{4} << 20)) return;
    const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
    const auto begin = reinterpret_cast<std::uintptr_t>(data);
    const std::uintptr_t lo = (begin + page - 1) / page * page, hi = (begin + bytes) / page * page;
    if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_NOHUGEPAGE);  // (advice: failure is harmless)
#else
    (void)data;
    (void)bytes;
#endif
}

/// A new C-contiguous array for an output, with prefer_base_pages applied.
template <typename T>
py::array_t<T> output_array(std::vector<py::ssize_t> shape) {
    py::array_t<T> a(std::move(shape));
    prefer_base_pages(a.mutable_data(), static_cast<std::size_t>(a.nbytes()));
    return a;
}

/// Checks the number of dimensions. Dtype and C order are already guaranteed by the c_style array_t
/// parameter bound with noconvert() (a mismatch is a TypeError before the body runs).
template <typename T>
void require_ndim(const py::array_t<T, py::array::c_style>& a, const char* name, int ndim) {
    if (a.ndim() != ndim) {
        throw py::value_error(std::string(name) + ": expected a " + std::to_string(ndim) + "-D array, got " +
                              std::to_string(a.ndim()) + "-D");
    }
}

}  // namespace rbic_py
