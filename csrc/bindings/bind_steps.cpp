// Bindings for the trace parser (rbic::steps): conversion only, the definitions live in the core.
#include <pybind11/stl.h>

#include "common.hpp"
#include "rbic/steps.hpp"

namespace rbic_py {

namespace {

using RuleTuple = std::tuple<py::bytes, int, int, py::bytes, std::vector<py::bytes>, std::vector<py::bytes>, bool>;

std::vector<rbic::steps::MarkerRule> to_rules(const std::vector<RuleTuple>& raw) {
    std::vector<rbic::steps::MarkerRule> rules;
    rules.reserve(raw.size());
    for (const auto& t : raw) {
        rbic::steps::MarkerRule r;
        r.pattern = std::get<0>(t);
        r.category = std::get<1>(t);
        r.initial = std::get<2>(t);
        r.followed_by = std::get<3>(t);
        for (const auto& s : std::get<4>(t)) r.not_followed_by.emplace_back(s);
        for (const auto& s : std::get<5>(t)) r.not_preceded_by.emplace_back(s);
        r.setvar = std::get<6>(t);
        rules.push_back(std::move(r));
    }
    return rules;
}

template <typename Offset>
py::tuple parse(const rbic::steps::Parser& parser, const py::array_t<std::uint8_t, py::array::c_style>& data,
                const py::array_t<Offset, py::array::c_style>& offsets, const py::object& valid_obj, int threads,
                py::object progress, const std::string& isa) {
    require_ndim(data, "data", 1);
    require_ndim(offsets, "offsets", 1);
    if (offsets.shape(0) < 1) throw py::value_error("offsets: need n + 1 entries (at least one)");
    const std::int64_t n = offsets.shape(0) - 1;
    const std::uint8_t* valid = nullptr;
    py::array_t<std::uint8_t, py::array::c_style> valid_arr;
    if (!valid_obj.is_none()) {
        if (!py::isinstance<py::array_t<std::uint8_t, py::array::c_style>>(valid_obj))
            throw py::type_error("valid: expected a C-contiguous uint8 array (np.ascontiguousarray(v, np.uint8))");
        valid_arr = valid_obj.cast<py::array_t<std::uint8_t, py::array::c_style>>();
        require_ndim(valid_arr, "valid", 1);
        if (valid_arr.shape(0) != n) throw py::value_error("valid: expected one flag per row");
        valid = valid_arr.data();
    }
    auto ints = output_array<std::int32_t>({static_cast<py::ssize_t>(rbic::steps::kNumFeatures), static_cast<py::ssize_t>(n)});
    auto redundancy = output_array<float>({static_cast<py::ssize_t>(n)});
    auto lang = output_array<std::uint8_t>({static_cast<py::ssize_t>(n)});
    rbic::MatrixView<std::int32_t> iv(ints.mutable_data(), rbic::steps::kNumFeatures, n);
    rbic::VectorView<float> rv(redundancy.mutable_data(), n);
    rbic::VectorView<std::uint8_t> lv(lang.mutable_data(), n);
    const std::uint8_t* d = data.data();
    const std::int64_t size = data.shape(0);
    const Offset* off = offsets.data();
    rbic::Hooks hooks = make_hooks(std::move(progress));
    call_nogil([&] { parser.parse(d, size, off, n, valid, threads, isa, iv, rv, lv, hooks); });
    return py::make_tuple(ints, redundancy, lang);
}

}  // namespace

void bind_steps(py::module_& m) {
    py::class_<rbic::steps::Parser>(m, "StepParser", "A compiled marker lexicon (use rbic_fast.parse_traces).")
        .def(py::init([](const std::vector<RuleTuple>& raw) { return new rbic::steps::Parser(to_rules(raw)); }),
             py::arg("rules"))
        .def("parse", &parse<std::int64_t>, py::arg("data").noconvert(), py::arg("offsets").noconvert(),
             py::arg("valid"), py::arg("threads"), py::arg("progress"), py::arg("isa") = "auto")
        .def("parse", &parse<std::int32_t>, py::arg("data").noconvert(), py::arg("offsets").noconvert(),
             py::arg("valid"), py::arg("threads"), py::arg("progress"), py::arg("isa") = "auto")
        .def(
            "spans",
            [](const rbic::steps::Parser& parser, const py::bytes& text, const std::string& isa) {
                std::string_view s = text;
                std::vector<std::pair<std::int64_t, std::int64_t>> out;
                {
                    py::gil_scoped_release nogil;
                    out = parser.spans(reinterpret_cast<const std::uint8_t*>(s.data()),
                                       static_cast<std::int64_t>(s.size()), isa);
                }
                return out;
            },
            py::arg("text"), py::arg("isa") = "auto")
        .def_static(
            "prefer_base_pages",
            [](py::array a) {
                if (!(a.flags() & py::array::c_style)) throw py::value_error("prefer_base_pages: expected a C-contiguous array");
                prefer_base_pages(a.mutable_data(), static_cast<std::size_t>(a.nbytes()));
            },
            py::arg("array"), "Advise base pages for a fresh output array before it is written (see common.hpp).")
        .def_static("resolve_isa", &rbic::steps::Parser::resolve_isa, py::arg("isa"),
                    "The kernels `isa` ('auto', 'avx512', 'portable') resolves to on this CPU.");
}

}  // namespace rbic_py
