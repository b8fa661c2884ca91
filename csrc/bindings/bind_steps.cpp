// Bindings for the steps area (filled in by its issue).
#include "common.hpp"

namespace rbic_py {
void bind_steps(py::module_& m) {}
}  // namespace rbic_py
