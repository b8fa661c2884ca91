// Bindings for the knn area (filled in by its issue).
#include "common.hpp"

namespace rbic_py {
void bind_knn(py::module_& m) {}
}  // namespace rbic_py
