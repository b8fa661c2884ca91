// Shared pybind11 helpers: hooks that reach Python, and the GIL-free call wrapper.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <utility>

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
