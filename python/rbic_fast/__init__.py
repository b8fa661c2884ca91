"""rbic_fast: refine chain-of-thought reasoning datasets by inference contribution (RBIC).

The heavy kernels (kNN graph, communities, trace parsing, graph propagation) are native code in
``rbic_fast._core``; this package is the thin Python layer over them.
"""

from __future__ import annotations

from . import _core
from ._core import RbicError
from . import compare, strategies  # noqa: E402  (selection strategies and their comparison)

__version__: str = _core.build_info()["version"]


def build_info() -> dict:
    """What this build contains: version, compiler, SIMD level in use on this CPU, OpenMP, CUDA.

    :return: a dict with keys ``version``, ``compiler``, ``simd``, ``cpu_features``, ``openmp``,
        ``openmp_max_threads``, ``cuda`` (kernels compiled), ``cuda_arch`` and ``cuda_devices``.
    """
    return dict(_core.build_info())


__all__ = ["RbicError", "build_info", "__version__", "compare", "strategies"]
