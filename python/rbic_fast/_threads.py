"""The ``threads=`` argument shared by the native kernels' wrappers."""

from __future__ import annotations

import numbers


def threads_arg(threads: int | None) -> int:
    """``threads`` as the native layer takes it: 0 for None (all cores, or ``OMP_NUM_THREADS``), else an int >= 1.

    :raises TypeError: for a bool, a float or a string (``threads=True`` or ``"2"`` is a mistake, not a count).
    :raises ValueError: for a count below 1.
    """
    if threads is None:
        return 0
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral):
        raise TypeError(f"threads must be an int >= 1 or None (all cores), got {threads!r}")
    if threads < 1:
        raise ValueError(f"threads must be >= 1 or None (all cores), got {threads}")
    return int(threads)
