"""rbic_fast: refine chain-of-thought reasoning datasets by inference contribution (RBIC).

The heavy kernels (kNN graph, communities, trace parsing, graph propagation) are native code in
``rbic_fast._core``; this package is the thin Python layer over them.
"""

from __future__ import annotations

from . import _core, compare, reference, strategies
from ._core import RbicError
from .graph import Communities, centrality, communities, modularity, propagate
from .knn import KnnGraph, KnnWarning, knn_graph
from .pipeline import RefineConfig, RefineResult, refine
from .steps import TraceFeatures, parse_traces, steps

__version__: str = _core.build_info()["version"]


def build_info() -> dict:
    """What this build contains: version, compiler, SIMD level in use on this CPU, OpenMP, CUDA.

    :return: a dict with keys ``version``, ``compiler``, ``simd``, ``cpu_features``, ``openmp``,
        ``openmp_max_threads``, ``cuda`` (kernels compiled), ``cuda_arch`` and ``cuda_devices``.
    """
    return dict(_core.build_info())


__all__ = [  # noqa: RUF022 (grouped by topic, as the README presents them)
    "RbicError",
    "build_info",
    "__version__",
    # kNN graph
    "KnnGraph",
    "KnnWarning",
    "knn_graph",
    # communities, centrality, propagation
    "Communities",
    "communities",
    "centrality",
    "modularity",
    "propagate",
    # reasoning-trace parser
    "TraceFeatures",
    "parse_traces",
    "steps",
    "reference",
    # end-to-end refinement
    "RefineConfig",
    "RefineResult",
    "refine",
    # selection strategies and their comparison
    "strategies",
    "compare",
]
