// Bindings for the selection baselines (greedy k-center).
#include "common.hpp"
#include "rbic/kcenter.hpp"

namespace rbic_py {

void bind_select(py::module_& m) {
    m.def(
        "greedy_kcenter",
        [](py::array_t<float, py::array::c_style> x, std::int64_t k, std::int64_t start, int threads,
           py::object progress) {
            require_ndim(x, "x", 2);
            const std::int64_t n = x.shape(0), d = x.shape(1);
            if (n == 0) throw py::value_error("x: no rows; greedy_kcenter needs at least one point");
            if (k < 1 || k > n) {
                throw py::value_error("k must be in 1.." + std::to_string(n) + " (the number of rows), got " +
                                      std::to_string(k));
            }
            py::array_t<std::int64_t> centres(k);
            py::array_t<float> radius(k);
            py::array_t<float> min_dist(n);
            rbic::select::KCenterParams params;
            params.k = k;
            params.start = start;
            params.threads = threads;
            rbic::MatrixView<const float> xv(x.data(), n, d);
            rbic::VectorView<std::int64_t> cv(centres.mutable_data(), k);
            rbic::VectorView<float> rv(radius.mutable_data(), k);
            rbic::VectorView<float> mv(min_dist.mutable_data(), n);
            rbic::Hooks hooks = make_hooks(progress);
            call_nogil([&] { rbic::select::greedy_kcenter(params, xv, cv, rv, mv, hooks); });
            return py::make_tuple(centres, radius, min_dist);
        },
        py::arg("x").noconvert(), py::arg("k"), py::arg("start") = 0, py::arg("threads") = 0,
        py::arg("progress") = py::none(),
        "Greedy k-center (farthest-first). Returns (centres (k,) int64, radius (k,) float32, "
        "min_dist (n,) float32).");
}

}  // namespace rbic_py
