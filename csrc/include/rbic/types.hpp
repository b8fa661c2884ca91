// Core value types shared by every kernel. Never includes Python.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace rbic {

/// A strided 2-D view over memory the caller owns (the cuVS/FAISS shape).
/// Rows are contiguous; consecutive rows are `row_stride` elements apart (>= cols).
template <typename T>
struct MatrixView {
    T* data = nullptr;
    std::int64_t rows = 0;
    std::int64_t cols = 0;
    std::int64_t row_stride = 0;

    MatrixView() = default;
    MatrixView(T* d, std::int64_t r, std::int64_t c, std::int64_t stride = -1)
        : data(d), rows(r), cols(c), row_stride(stride < 0 ? c : stride) {}

    T* row(std::int64_t i) const { return data + i * row_stride; }
    T& operator()(std::int64_t i, std::int64_t j) const { return data[i * row_stride + j]; }
};

/// A 1-D view over memory the caller owns.
template <typename T>
struct VectorView {
    T* data = nullptr;
    std::int64_t size = 0;

    VectorView() = default;
    VectorView(T* d, std::int64_t n) : data(d), size(n) {}
    T& operator[](std::int64_t i) const { return data[i]; }
};

/// Raised for failures that are neither bad arguments nor allocation failures.
/// Maps to rbic_fast.RbicError (a RuntimeError) in Python.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Thrown when Hooks::interrupt() asked the kernel to stop. Unwinds the core; the binding
/// re-raises the pending Python KeyboardInterrupt.
class Interrupted : public std::exception {
public:
    const char* what() const noexcept override { return "rbic: interrupted"; }
};

}  // namespace rbic
