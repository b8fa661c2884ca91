// rbic_fast._core: the pybind11 module. Each area registers itself from bind_<area>.cpp.
#include <pybind11/stl.h>

#include <chrono>

#include "common.hpp"
#include "rbic/build_info.hpp"

namespace py = pybind11;

namespace rbic_py {
void bind_knn(py::module_& m);
void bind_steps(py::module_& m);
void bind_community(py::module_& m);
void bind_select(py::module_& m);
}  // namespace rbic_py

PYBIND11_MODULE(_core, m) {
    m.doc() = "rbic_fast native core (private; use the rbic_fast package)";

    static py::exception<rbic::Error> rbic_error(m, "RbicError", PyExc_RuntimeError);

    m.def("build_info", [] {
        rbic::BuildInfo b = rbic::build_info();
        py::dict d;
        d["version"] = b.version;
        d["compiler"] = RBIC_COMPILER;
        d["simd"] = b.simd;
        d["cpu_features"] = b.cpu_features;
        d["openmp"] = b.openmp;
        d["openmp_max_threads"] = b.openmp_max_threads;
        d["cuda"] = b.cuda;
        d["cuda_arch"] = b.cuda_arch;
        d["cuda_devices"] = b.cuda_devices;
        return d;
    });

    // Exercised by the tests of the shared machinery (progress, Ctrl-C, exceptions, threads).
    m.def(
        "_spin",
        [](std::int64_t tasks, double ms_per_task, int threads, py::object progress, std::int64_t fail_at) {
            rbic::Hooks hooks = rbic_py::make_hooks(progress);
            std::atomic<std::int64_t> ran{0};
            rbic_py::call_nogil([&] {
                rbic::parallel_for(tasks, threads, hooks, [&](std::int64_t t, int) {
                    if (t == fail_at) throw std::invalid_argument("task " + std::to_string(t) + " failed");
                    auto until = std::chrono::steady_clock::now() +
                                 std::chrono::microseconds(static_cast<std::int64_t>(ms_per_task * 1000));
                    while (std::chrono::steady_clock::now() < until) {
                    }
                    ran.fetch_add(1);
                });
            });
            return ran.load();
        },
        py::arg("tasks"), py::arg("ms_per_task"), py::arg("threads") = 0, py::arg("progress") = py::none(),
        py::arg("fail_at") = -1);

    rbic_py::bind_knn(m);
    rbic_py::bind_steps(m);
    rbic_py::bind_community(m);
    rbic_py::bind_select(m);
}
