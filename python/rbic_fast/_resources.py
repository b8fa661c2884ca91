"""Wall time and peak resident memory per pipeline stage (the per-stage table of ``run.json`` and ``rbic bench``)."""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["StageMeter", "current_rss", "peak_rss"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def current_rss() -> int:
    """Resident set size of this process in bytes (Linux ``/proc``; elsewhere the peak so far)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except OSError:
        return peak_rss()


def peak_rss() -> int:
    """Peak resident set size of this process so far, in bytes, as the kernel counts it."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


class StageMeter:
    """Times stages and samples the resident memory while each runs.

    ``with meter.stage("graph"): ...`` records the stage's wall seconds and the highest RSS seen during it
    (sampled every ``interval`` seconds by a daemon thread, plus at both ends). Stages may repeat (times add up,
    peaks take the maximum). Sampling costs one small ``/proc`` read per interval.

    :param interval: sampling period in seconds.
    """

    def __init__(self, interval: float = 0.02) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_bytes: dict[str, int] = {}
        self._interval = interval
        self._lock = threading.Lock()
        self._current: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0

    def _sample(self) -> None:
        rss = current_rss()
        with self._lock:
            if self._current is not None:
                name = self._current
                self.peak_bytes[name] = max(self.peak_bytes.get(name, 0), rss)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def start(self, name: str) -> None:
        """Begin stage ``name`` (ends the running one, if any)."""
        if self._current is not None:
            self.stop()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="rbic-stage-meter", daemon=True)
            self._thread.start()
        with self._lock:
            self._current = name
        self._sample()
        self._t0 = time.perf_counter()

    def stop(self) -> float:
        """End the running stage; return its wall seconds (this run of it)."""
        name = self._current
        if name is None:
            raise RuntimeError("StageMeter.stop() without a running stage")
        seconds = time.perf_counter() - self._t0
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self._sample()
        with self._lock:
            self._current = None
        return seconds

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Measure the body as stage ``name`` (stages do not nest)."""
        self.start(name)
        try:
            yield
        finally:
            self.stop()

    def close(self) -> None:
        """Stop the sampling thread (the recorded figures stay; a later :meth:`start` restarts it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._stop = threading.Event()  # a later start() samples again

    def table(self) -> dict[str, dict[str, float]]:
        """``{stage: {"seconds": s, "peak_rss_mb": mb}}`` in the order the stages first ran."""
        return {
            name: {"seconds": round(s, 3), "peak_rss_mb": round(self.peak_bytes.get(name, 0) / 2**20, 1)}
            for name, s in self.seconds.items()
        }
