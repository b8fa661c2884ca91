// Bindings for the community area: Leiden, modularity, centrality and propagation over a CSR graph.
#include <memory>
#include <string>
#include <vector>

#include "common.hpp"
#include "rbic/community.hpp"
#include "rbic/graph.hpp"

namespace rbic_py {

namespace {

using Indptr = py::array_t<std::int64_t, py::array::c_style>;
using Indices = py::array_t<std::int32_t, py::array::c_style>;
using Weights = py::array_t<float, py::array::c_style>;
using Labels = py::array_t<std::int32_t, py::array::c_style>;

rbic::CsrGraph view_graph(const Indptr& indptr, const Indices& indices, const Weights& weights) {
    require_ndim(indptr, "indptr", 1);
    require_ndim(indices, "indices", 1);
    require_ndim(weights, "weights", 1);
    if (indptr.shape(0) < 1) throw py::value_error("indptr: needs n + 1 >= 1 entries");
    rbic::CsrGraph g;
    g.n = indptr.shape(0) - 1;
    g.indptr = indptr.data();
    g.indices = indices.data();
    g.weights = weights.data();
    if (indices.shape(0) != weights.shape(0) || indptr.data()[g.n] != indices.shape(0)) {
        throw py::value_error("indices and weights must both have indptr[-1] = " + std::to_string(indptr.data()[g.n]) +
                              " entries, got " + std::to_string(indices.shape(0)) + " and " +
                              std::to_string(weights.shape(0)));
    }
    return g;
}

void require_length(const py::array& a, std::int64_t n, const char* name) {
    if (a.ndim() != 1 || a.shape(0) != n) {
        throw py::value_error(std::string(name) + ": expected shape (" + std::to_string(n) + ",), one entry per node");
    }
}

template <typename T>
py::array_t<T> to_numpy(std::vector<T>&& v) {
    auto* owned = new std::vector<T>(std::move(v));
    py::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
    return py::array_t<T>({static_cast<py::ssize_t>(owned->size())}, {static_cast<py::ssize_t>(sizeof(T))},
                          owned->data(), free_when_done);
}

rbic::community::Objective parse_objective(const std::string& s) {
    if (s == "modularity") return rbic::community::Objective::modularity;
    if (s == "cpm") return rbic::community::Objective::cpm;
    throw py::value_error("objective must be 'modularity' or 'cpm', got '" + s + "'");
}

}  // namespace

void bind_community(py::module_& m) {
    m.def(
        "leiden",
        [](const Indptr& indptr, const Indices& indices, const Weights& weights, double resolution,
           const std::string& objective, std::uint64_t seed, int max_iterations, double target_size, int threads,
           py::object progress) {
            rbic::CsrGraph g = view_graph(indptr, indices, weights);
            rbic::community::LeidenParams p;
            p.resolution = resolution;
            p.objective = parse_objective(objective);
            p.seed = seed;
            p.max_iterations = max_iterations;
            p.target_size = target_size;
            p.threads = threads;
            rbic::Hooks hooks = make_hooks(progress);
            rbic::community::LeidenResult r;
            call_nogil([&] {
                rbic::graph::validate(g, threads);
                r = rbic::community::leiden_partition(p, g, hooks);
            });
            py::list levels;
            for (auto& lv : r.levels) levels.append(to_numpy(std::move(lv)));
            return py::make_tuple(to_numpy(std::move(r.membership)), levels, r.modularity, r.resolution,
                                  r.iterations);
        },
        py::arg("indptr").noconvert(), py::arg("indices").noconvert(), py::arg("weights").noconvert(),
        py::arg("resolution"), py::arg("objective"), py::arg("seed"), py::arg("max_iterations"),
        py::arg("target_size"), py::arg("threads"), py::arg("progress") = py::none(),
        "Leiden communities of a validated CSR graph: (membership, levels, modularity, resolution, iterations).");

    m.def(
        "modularity",
        [](const Indptr& indptr, const Indices& indices, const Weights& weights, const Labels& membership,
           double resolution, int threads) {
            rbic::CsrGraph g = view_graph(indptr, indices, weights);
            require_length(membership, g.n, "membership");
            double q = 0.0;
            call_nogil([&] {
                rbic::graph::validate(g, threads);
                q = rbic::community::modularity(g, membership.data(), resolution, threads);
            });
            return q;
        },
        py::arg("indptr").noconvert(), py::arg("indices").noconvert(), py::arg("weights").noconvert(),
        py::arg("membership").noconvert(), py::arg("resolution"), py::arg("threads"));

    m.def(
        "centrality",
        [](const Indptr& indptr, const Indices& indices, const Weights& weights, const Labels& membership,
           const std::string& kind, int threads) {
            rbic::CsrGraph g = view_graph(indptr, indices, weights);
            require_length(membership, g.n, "membership");
            rbic::community::CentralityKind k;
            if (kind == "degree") {
                k = rbic::community::CentralityKind::degree;
            } else if (kind == "pagerank") {
                k = rbic::community::CentralityKind::pagerank;
            } else {
                throw py::value_error("kind must be 'degree' or 'pagerank', got '" + kind + "'");
            }
            py::array_t<float> out(g.n);
            float* o = out.mutable_data();
            rbic::Hooks hooks = make_hooks(py::none());
            call_nogil([&] {
                rbic::graph::validate(g, threads);
                rbic::community::centrality(g, membership.data(), k, o, threads, hooks);
            });
            return out;
        },
        py::arg("indptr").noconvert(), py::arg("indices").noconvert(), py::arg("weights").noconvert(),
        py::arg("membership").noconvert(), py::arg("kind"), py::arg("threads"));

    m.def(
        "propagate",
        [](const Indptr& indptr, const Indices& indices, const Weights& weights,
           const py::array_t<float, py::array::c_style>& values,
           const py::array_t<std::uint8_t, py::array::c_style>& known, double alpha, int iterations, int threads,
           py::object progress) {
            rbic::CsrGraph g = view_graph(indptr, indices, weights);
            require_length(values, g.n, "values");
            require_length(known, g.n, "known_mask");
            rbic::graph::PropagateParams p;
            p.alpha = alpha;
            p.iterations = iterations;
            p.threads = threads;
            py::array_t<float> out(g.n);
            float* o = out.mutable_data();
            rbic::Hooks hooks = make_hooks(progress);
            call_nogil([&] {
                rbic::graph::validate(g, threads);
                rbic::graph::propagate(p, g, values.data(), known.data(), o, hooks);
            });
            return out;
        },
        py::arg("indptr").noconvert(), py::arg("indices").noconvert(), py::arg("weights").noconvert(),
        py::arg("values").noconvert(), py::arg("known").noconvert(), py::arg("alpha"), py::arg("iterations"),
        py::arg("threads"), py::arg("progress") = py::none());

    m.def(
        "knn_to_csr",
        [](const py::array_t<std::int32_t, py::array::c_style>& neighbors,
           const py::array_t<float, py::array::c_style>& similarities, const std::string& symmetrize,
           py::object min_similarity, int threads) {
            require_ndim(neighbors, "indices", 2);
            require_ndim(similarities, "similarities", 2);
            rbic::graph::KnnCsrParams p;
            if (symmetrize == "max") {
                p.symmetrize = rbic::graph::Symmetrize::max;
            } else if (symmetrize == "mean") {
                p.symmetrize = rbic::graph::Symmetrize::mean;
            } else if (symmetrize == "none") {
                p.symmetrize = rbic::graph::Symmetrize::none;
            } else {
                throw py::value_error("symmetrize must be 'max', 'mean' or 'none', got '" + symmetrize + "'");
            }
            p.has_min_similarity = !min_similarity.is_none();
            if (p.has_min_similarity) p.min_similarity = min_similarity.cast<float>();
            p.threads = threads;
            const py::ssize_t n = neighbors.shape(0), k = neighbors.shape(1);
            const py::ssize_t capacity = n * k * (p.symmetrize == rbic::graph::Symmetrize::none ? 1 : 2);
            py::array_t<std::int64_t> indptr(n + 1);
            py::array_t<std::int32_t> indices(capacity);
            py::array_t<float> weights(capacity);
            rbic::MatrixView<const std::int32_t> nv(neighbors.data(), n, k);
            rbic::MatrixView<const float> sv(similarities.data(), similarities.shape(0), similarities.shape(1));
            std::int64_t* ip = indptr.mutable_data();
            std::int32_t* ix = indices.mutable_data();
            float* w = weights.mutable_data();
            rbic::Hooks hooks = make_hooks(py::none());
            std::int64_t nnz = 0;
            call_nogil([&] { nnz = rbic::graph::knn_to_csr(p, nv, sv, ip, ix, w, hooks); });
            return py::make_tuple(indptr, indices, weights, nnz);
        },
        "CSR arrays of a kNN graph (private; use KnnGraph.to_csr). Returns (indptr, indices, weights, nnz); "
        "indices and weights hold nnz valid entries at their front.",
        py::arg("indices").noconvert(), py::arg("similarities").noconvert(), py::arg("symmetrize"),
        py::arg("min_similarity"), py::arg("threads") = 0);
}

}  // namespace rbic_py
