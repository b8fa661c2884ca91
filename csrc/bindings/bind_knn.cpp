// Bindings for the knn area: numpy <-> views around rbic::knn::knn_graph.
#include <string>
#include <utility>

#include "knn_outputs.hpp"
#include "rbic/knn.hpp"

namespace rbic_py {
namespace {

template <typename T>
py::tuple knn_graph(const py::array_t<T, py::array::c_style>& x, int k, bool exclude_self, bool normalize,
                    const std::string& precision, int threads, const std::string& isa, int block_rows,
                    py::object progress) {
    rbic::knn::KnnParams p;
    p.k = k;
    p.exclude_self = exclude_self;
    p.normalize = normalize;
    if (precision == "fp32") {
        p.precision = rbic::knn::Precision::fp32;
    } else if (precision == "bf16") {
        p.precision = rbic::knn::Precision::bf16;
    } else if (precision == "int8") {
        p.precision = rbic::knn::Precision::int8;
    } else {
        throw py::value_error("precision must be 'fp32', 'bf16' or 'int8', got '" + precision + "'");
    }
    p.threads = threads;
    p.isa = isa;
    p.block_rows = block_rows;
    auto run = [&](auto xv, auto iv, auto sv, const rbic::Hooks& hooks) {
        return rbic::knn::knn_graph(p, xv, iv, sv, hooks);
    };
    auto [indices, similarities, info] = run_knn(x, k, std::move(progress), run);
    return py::make_tuple(indices, similarities, info.kernel, info.shortlist, info.block_rows);
}

}  // namespace

void bind_knn_approx(py::module_& m);  // bind_knn_approx.cpp

void bind_knn(py::module_& m) {
    const char* doc =
        "Exact top-k cosine neighbours of every row (private; use rbic_fast.knn_graph). float32 rows, or float16 "
        "rows viewed as uint16. Returns (indices int32 (n, k), similarities float32 (n, k), kernel, mean "
        "shortlist re-scored per row, block_rows).";
    auto bind = [&](auto tag) {
        using T = decltype(tag);
        m.def("knn_graph", &knn_graph<T>, doc, py::arg("x").noconvert(), py::arg("k"), py::arg("exclude_self"),
              py::arg("normalize"), py::arg("precision"), py::arg("threads") = 0, py::arg("isa") = "auto",
              py::arg("block_rows") = 0, py::arg("progress") = py::none());
    };
    bind(float{});
    bind(std::uint16_t{});
    bind_knn_approx(m);
}

}  // namespace rbic_py
