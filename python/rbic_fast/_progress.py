"""Progress reporting shared by the public wrappers."""

from __future__ import annotations

from collections.abc import Callable

ProgressArg = None | bool | Callable[[int, int], None]


def make_progress(progress: ProgressArg, desc: str) -> tuple[Callable[[int, int], None] | None, Callable[[], None]]:
    """Turn the public ``progress=`` argument into a ``(done, total)`` callback and a closer.

    ``None``/``False``: no reporting. ``True``: a tqdm bar when tqdm is installed, else nothing.
    A callable is called as ``progress(done, total)`` from the calling thread.
    """
    if progress is None or progress is False:
        return None, lambda: None
    if callable(progress):
        return progress, lambda: None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional
        return None, lambda: None
    bar = tqdm(total=0, desc=desc, unit="it", leave=False)

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()

    return update, bar.close
