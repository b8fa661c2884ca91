"""The ``threads=`` argument shared by the native kernels' wrappers."""

from __future__ import annotations

import numbers


def threads_arg(threads: int | None, *, zero_is_all: bool = False) -> int:
    """``threads`` as the native layer takes it: 0 for None (all cores, or ``OMP_NUM_THREADS``), else an int >= 1.

    :param zero_is_all: also take 0 for all cores (for a wrapper that documented ``threads=0`` as its default).
    :raises TypeError: for a bool, a float or a string (``threads=True`` or ``"2"`` is a mistake, not a count).
    :raises ValueError: for a count below 1 (below 0 with ``zero_is_all``).
    """
    if threads is None:
        return 0
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral):
        raise TypeError(f"threads must be an int >= 1 or None (all cores), got {threads!r}")
    if threads < (0 if zero_is_all else 1):
        raise ValueError(f"threads must be >= {0 if zero_is_all else 1} or None (all cores), got {threads}")
    return int(threads)
