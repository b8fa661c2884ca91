"""Checks every native entry point must pass: the GIL is released, Ctrl-C stops it promptly, and progress reports
are well formed."""

from __future__ import annotations

import _thread
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest


def assert_releases_gil(call: Callable[[], Any], min_seconds: float = 0.05, min_share: float = 0.1) -> None:
    """Run ``call`` while another Python thread ticks every ~1 ms; the ticks must go on during the call.

    Native code that holds the GIL lets the ticker run not at all until it returns.

    :param call: a native call taking at least ``min_seconds``.
    :param min_seconds: the call must run this long for the check to mean anything.
    :param min_share: the share of the ideal tick rate (one per ~1.5 ms) that must be reached; low by default
        because a loaded machine delays the sleeping ticker.
    """
    ticks: list[float] = []
    stop = threading.Event()

    def ticker() -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    thread = threading.Thread(target=ticker)
    thread.start()
    try:
        start = time.perf_counter()
        call()
        end = time.perf_counter()
    finally:
        stop.set()
        thread.join()
    elapsed = end - start
    assert elapsed > min_seconds, f"the call took only {elapsed:.3f} s: make the input larger"
    during = sum(1 for t in ticks if start < t < end)
    assert during >= max(5.0, min_share * elapsed / 0.0015), f"only {during} ticks in {elapsed:.2f} s of native work: GIL held?"


def assert_interruptible(call: Callable[[], Any], after: float = 0.2, within: float = 3.0) -> None:
    """Send SIGINT's equivalent ``after`` seconds into ``call``: it must raise KeyboardInterrupt within ``within``.

    :param call: a native call that would run for several seconds uninterrupted.
    """
    timer = threading.Timer(after, _thread.interrupt_main)
    start = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            call()
    finally:
        timer.join()
    assert time.perf_counter() - start < within


def assert_progress_well_formed(seen: list[tuple[int, int]]) -> int:
    """The ``(done, total)`` calls of a ``progress`` callback: at least one, one total throughout, ``done`` never
    going back, and a last call of ``(total, total)``. Returns the total.

    :param seen: the calls, in order.
    """
    assert seen, "progress was never called"
    totals = {t for _, t in seen}
    assert len(totals) == 1, f"progress totals changed: {sorted(totals)}"
    total = totals.pop()
    assert seen[-1] == (total, total)
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(seen))
    return total
