// Shared by the exact and approximate kNN bindings: the (n, k) output arrays and the GIL-free run.
#pragma once

#include <cstdint>
#include <utility>

#include "common.hpp"

namespace rbic_py {

/// Allocates indices int32 (n, k) and similarities float32 (n, k) for the embeddings x (checked 2-D), runs
/// `run(x_view, indices_view, similarities_view, hooks)` with the GIL released and returns
/// (indices, similarities, what run returned). k <= 0 gives (n, 0) outputs; the core rejects it.
template <typename T, typename Run>
auto run_knn(const py::array_t<T, py::array::c_style>& x, int k, py::object progress, Run&& run) {
    require_ndim(x, "embeddings", 2);
    const py::ssize_t n = x.shape(0), d = x.shape(1), kk = k > 0 ? k : 0;
    py::array_t<std::int32_t> indices({n, kk});
    py::array_t<float> similarities({n, kk});
    rbic::MatrixView<const T> xv(x.data(), n, d);
    rbic::MatrixView<std::int32_t> iv(indices.mutable_data(), n, kk);
    rbic::MatrixView<float> sv(similarities.mutable_data(), n, kk);
    rbic::Hooks hooks = make_hooks(std::move(progress));
    decltype(run(xv, iv, sv, hooks)) info{};
    call_nogil([&] { info = run(xv, iv, sv, hooks); });
    return std::make_tuple(std::move(indices), std::move(similarities), std::move(info));
}

}  // namespace rbic_py
