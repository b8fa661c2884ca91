// Bindings for the approximate kNN graph: numpy <-> views around rbic::knn::knn_graph_approx.
#include <string>
#include <utility>

#include "knn_outputs.hpp"
#include "rbic/knn_approx.hpp"

namespace rbic_py {
namespace {

template <typename T>
py::tuple knn_graph_approx(const py::array_t<T, py::array::c_style>& x, int k, bool exclude_self, bool normalize,
                           int threads, std::uint64_t seed, std::int64_t nlist, std::int64_t nprobe,
                           double target_recall, int kmeans_iters, std::int64_t train_per_list,
                           std::int64_t recall_sample, const std::string& isa, const std::string& precision,
                           py::object progress) {
    if (precision != "fp32" && precision != "int8")
        throw py::value_error("precision must be 'fp32' or 'int8' for the approximate graph, got '" + precision + "'");
    rbic::knn::ApproxParams p;
    p.k = k;
    p.exclude_self = exclude_self;
    p.normalize = normalize;
    p.threads = threads;
    p.seed = seed;
    p.nlist = nlist;
    p.nprobe = nprobe;
    p.target_recall = target_recall;
    p.kmeans_iters = kmeans_iters;
    p.train_per_list = train_per_list;
    p.recall_sample = recall_sample;
    p.isa = isa;
    p.precision = precision == "int8" ? rbic::knn::Precision::int8 : rbic::knn::Precision::fp32;
    auto run = [&](auto xv, auto iv, auto sv, const rbic::Hooks& hooks) {
        return rbic::knn::knn_graph_approx(p, xv, iv, sv, hooks);
    };
    auto [indices, similarities, info] = run_knn(x, k, std::move(progress), run);
    py::dict meta;
    meta["kernel"] = info.kernel;
    meta["nlist"] = info.nlist;
    meta["nprobe"] = info.nprobe;
    meta["candidates"] = info.candidates;
    meta["recall"] = info.recall_rows > 0 ? py::object(py::float_(info.recall)) : py::object(py::none());
    meta["recall_rows"] = info.recall_rows;
    return py::make_tuple(indices, similarities, meta);
}

}  // namespace

void bind_knn_approx(py::module_& m) {
    const char* doc =
        "Approximate top-k cosine neighbours of every row by an IVF list-pair self-join (private; use "
        "rbic_fast.knn_graph(method='approx')). float32 rows, or float16 rows viewed as uint16. Returns (indices "
        "int32 (n, k), similarities float32 (n, k), info dict: kernel, nlist, nprobe, candidates, recall, recall_rows).";
    auto bind = [&](auto tag) {
        using T = decltype(tag);
        m.def("knn_graph_approx", &knn_graph_approx<T>, doc, py::arg("x").noconvert(), py::arg("k"),
              py::arg("exclude_self"), py::arg("normalize"), py::arg("threads") = 0, py::arg("seed") = 0,
              py::arg("nlist") = 0, py::arg("nprobe") = 0, py::arg("target_recall") = 0.95,
              py::arg("kmeans_iters") = 6,
              py::arg("train_per_list") = 48, py::arg("recall_sample") = 0, py::arg("isa") = "auto",
              py::arg("precision") = "fp32", py::arg("progress") = py::none());
    };
    bind(float{});
    bind(std::uint16_t{});
}

}  // namespace rbic_py
