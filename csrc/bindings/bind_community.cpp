// Bindings for the community area (filled in by its issue).
#include "common.hpp"

namespace rbic_py {
void bind_community(py::module_& m) {}
}  // namespace rbic_py
