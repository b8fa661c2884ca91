"""``rbic bench``: the whole refine job on a synthetic corpus stage by stage, then each native kernel side by side
with its pure-Python baseline and the fastest peer library, on the same data and thread count, in one run.

Absolute times drift on shared machines; the ratios within one run are what to compare.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import _peers
from ._resources import StageMeter, current_rss
from .knn import AUTO_APPROX_MIN_ROWS

__all__ = ["BenchReport", "Measurement", "run_benchmark"]

_K = 16
_REFERENCE_PARSER_BYTES = 2_000_000  # the pure-Python parser runs at ~1 MB/s: time it on a prefix


@dataclass(frozen=True)
class Measurement:
    """One timed run.

    :param section: ``"job"`` (a stage of ``rbic refine``), ``"knn"`` (exact, ``kernel_n`` rows), ``"knn_all"``
        (``method="auto"`` on every row), ``"communities"`` or ``"parser"``.
    :param tool: what ran (``"rbic_fast"``, ``"numpy"``, ``"faiss_flat"``, a stage name, ...).
    :param role: ``"ours"``, ``"baseline"`` (pure Python / NumPy), ``"peer"`` or ``"stage"``.
    :param seconds: wall time.
    :param peak_rss_mb: peak resident memory of the process during the run (None: not measured).
    :param quality: what the run achieved, e.g. ``"recall@16 0.998"``, ``"modularity 0.91"``, ``"85 MB/s"``.
    :param size: the input, e.g. ``"20000 x 384"``.
    """

    section: str
    tool: str
    role: str
    seconds: float
    peak_rss_mb: float | None = None
    quality: str = ""
    size: str = ""


@dataclass(frozen=True)
class BenchReport:
    """All measurements of one ``rbic bench`` run and where it ran."""

    n: int
    threads: int
    machine: str
    rows: tuple[Measurement, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_markdown(self) -> str:
        """The job's per-stage table, then one table per kernel with ratios to ``rbic_fast``."""
        out = [f"rbic bench: n={self.n}, {self.threads} thread(s), {self.machine}", ""]
        job = [r for r in self.rows if r.section == "job"]
        if job:
            out += ["| stage | seconds | peak RSS MB | |", "|---|---|---|---|"]
            out += [f"| {r.tool} | {r.seconds:.2f} | {_mb(r.peak_rss_mb)} | {r.quality} |" for r in job]
            out.append("")
        for section in ("knn", "knn_all", "communities", "parser"):
            rows = [r for r in self.rows if r.section == section]
            if not rows:
                continue
            ours = next((r for r in rows if r.role == "ours"), None)
            out += [
                f"| {section} | role | size | seconds | vs rbic_fast | peak RSS MB | quality |",
                "|---|---|---|---|---|---|---|",
            ]
            for r in rows:
                ratio = f"{r.seconds / ours.seconds:.1f}x" if ours is not None and ours.seconds > 0 else ""
                out.append(
                    f"| {r.tool} | {r.role} | {r.size} | {r.seconds:.2f} | {ratio} | {_mb(r.peak_rss_mb)} | "
                    f"{r.quality} |"
                )
            out.append("")
        out += [f"- {note}" for note in self.notes]
        return "\n".join(out).rstrip() + "\n"


def _mb(v: float | None) -> str:
    return "" if v is None else f"{v:.0f}"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; elsewhere what :mod:`platform` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description() -> str:
    """CPU model, cores this process may use, load average and date: the line every table carries."""
    load = ",".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return f"{cpu_model()}, {_peers.default_threads()} CPUs, load {load}, {time.strftime('%Y-%m-%d')}"


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """Run ``fn``; return its result, wall seconds and the peak RSS (MB) sampled while it ran."""
    meter = StageMeter(interval=0.01)
    try:
        with meter.stage("run"):
            result = fn()
    finally:
        meter.close()
    return result, meter.seconds["run"], meter.peak_bytes.get("run", current_rss()) / 2**20


def _run_job(corpus: Path, emb: Path, out: Path, threads: int, ratio: float) -> tuple[dict, float, float]:
    """``rbic refine`` in a child process, as a user runs it; returns run.json, wall seconds, peak RSS (MB)."""
    cmd = [
        sys.executable, "-m", "rbic_fast.cli", "refine", str(corpus), "-o", str(out), "--ratio", str(ratio),
        "--embeddings", str(emb), "--accuracy-field", "accuracy", "--threads", str(threads), "--no-cache", "-q",
    ]  # fmt: skip
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS, not the max over all children
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"rbic refine failed (exit {proc.returncode}): {tail}")
    peak = usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)
    return json.loads((out / "run.json").read_text()), seconds, peak


def _job_rows(summary: dict, seconds: float, peak_mb: float, n: int) -> list[Measurement]:
    stages = summary.get("stages") or {k: {"seconds": v} for k, v in summary["timings_s"].items() if k != "total"}
    rows = [
        Measurement("job", name, "stage", float(s["seconds"]), s.get("peak_rss_mb"), size=f"{n} records")
        for name, s in stages.items()
    ]
    rows.append(
        Measurement(
            "job", "total (rbic refine, child process)", "stage", seconds, peak_mb,
            quality=f"kept {summary['kept']} of {summary['records']}", size=f"{n} records",
        )
    )  # fmt: skip
    return rows


def _kept_ids(out: Path) -> np.ndarray:
    import pyarrow.parquet as pq

    t = pq.read_table(out / "scores.parquet", columns=["id", "kept"])
    return np.asarray(t.column("id").to_pylist(), dtype=object)[np.asarray(t.column("kept"))]


def _timed_int8(build: Callable[[], Any]) -> tuple[Any, float, float] | None:
    """``_timed(build)`` for an int8 kNN graph, or None where it would not run int8: without AVX512_VNNI (or with
    RBIC_KNN_ISA capping it) precision="int8" runs the fp32 kernel again, which is no row of its own."""
    from . import build_info

    if "avx512_vnni" not in build_info()["cpu_features"]:
        return None
    g, t, peak = _timed(build)
    return (g, t, peak) if g.kernel == "avx512_vnni" else None


def _knn_rows(x: np.ndarray, threads: int, peers: bool, notes: list[str]) -> tuple[list[Measurement], Any]:
    from . import knn_graph

    size = f"{x.shape[0]} x {x.shape[1]}"
    ours, t, peak = _timed(lambda: knn_graph(x, _K, threads=threads))
    rows = [Measurement("knn", "rbic_fast (exact)", "ours", t, peak, "recall@16 1.000 (exact)", size)]
    run = _timed_int8(lambda: knn_graph(x, _K, precision="int8", threads=threads))
    if run is not None:
        int8, t, peak = run
        same = np.array_equal(int8.indices, ours.indices) and np.array_equal(int8.similarities, ours.similarities)
        quality = f"identical to fp32: {'yes' if same else 'NO'}; {int8.shortlist:.0f} re-scored per row"
        rows.append(Measurement("knn", "rbic_fast (exact, int8)", "ours", t, peak, quality, size))
    base, t, peak = _timed(lambda: _with_blas_threads(threads, lambda: _peers.numpy_knn(x, _K)))
    rows.append(Measurement("knn", "numpy blocked matmul", "baseline", t, peak, _recall(base[0], ours), size))
    if peers:
        try:
            os.environ.setdefault("OPENBLAS_CORETYPE", _peers.faiss_openblas_coretype() or "")
            import faiss

            faiss.omp_set_num_threads(threads)
            res, t, peak = _timed(lambda: _peers.faiss_knn(x, _K))
            rows.append(Measurement("knn", "faiss IndexFlatIP", "peer", t, peak, _recall(res[0], ours), size))
        except ImportError:
            notes.append("faiss-cpu not installed: no kNN peer (pip install 'rbic_fast[bench]')")
    return rows, ours


def _approx_rows(x: np.ndarray, threads: int, peers: bool, notes: list[str]) -> list[Measurement]:
    """The whole corpus through ``method="auto"`` and, as the peer, pynndescent (the fastest peer at 1M)."""
    from . import knn_graph

    size = f"{x.shape[0]} x {x.shape[1]}"
    g, t, peak = _timed(lambda: knn_graph(x, _K, method="auto", threads=threads))
    est = f"recall@16 ~{g.recall:.3f} (estimated)" if g.recall is not None else "exact"
    rows = [Measurement("knn_all", f"rbic_fast ({g.method})", "ours", t, peak, est, size)]
    run = None
    if g.method == "approx":  # the int8 join beside it
        run = _timed_int8(lambda: knn_graph(x, _K, method="approx", precision="int8", threads=threads))
    if run is not None:
        g8, t8, peak8 = run
        same = float(np.mean(g8.indices == g.indices))
        quality = f"recall@16 ~{g8.recall:.3f} (estimated); {same:.1%} of list entries as fp32"
        rows.append(Measurement("knn_all", "rbic_fast (approx, int8)", "ours", t8, peak8, quality, size))
    if peers:
        try:
            import numba

            numba.set_num_threads(threads)
            _peers.pynndescent_knn(x[:300], _K, threads)  # numba compiles on the first call: not timed
            res, t, peak = _timed(lambda: _peers.pynndescent_knn(x, _K, threads))
            sample = np.sort(np.random.default_rng(0).choice(x.shape[0], size=min(1000, x.shape[0]), replace=False))
            truth = _peers.exact_rows(x, sample, _K)
            rows.append(
                Measurement("knn_all", "pynndescent", "peer", t, peak, _recall(res[sample], truth) + " (sample)",
                            size)
            )
        except ImportError:
            notes.append("pynndescent not installed: no approximate kNN peer (pip install 'rbic_fast[bench]')")
    return rows


def _recall(found: np.ndarray, truth: Any) -> str:
    t = truth if isinstance(truth, np.ndarray) else np.asarray(truth.indices)
    return f"recall@16 {_peers.recall_at_k(np.asarray(found), t):.3f}"


def _with_blas_threads(threads: int, fn: Callable[[], Any]) -> Any:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return fn()
    with threadpool_limits(limits=threads):
        return fn()


def _community_rows(knn: Any, threads: int, peers: bool, baselines: bool, notes: list[str]) -> list[Measurement]:
    from . import communities, modularity

    g = knn.to_csr(symmetrize="max")
    size = f"{g.shape[0]} nodes, {g.nnz} edges"

    def q(m: np.ndarray) -> str:
        return f"modularity {modularity(g, np.unique(m, return_inverse=True)[1].astype(np.int32)):.4f}"

    c, t, peak = _timed(lambda: communities(g, threads=threads))
    rows = [Measurement("communities", "rbic_fast (Leiden)", "ours", t, peak, q(np.asarray(c.membership)), size)]
    if baselines:
        try:
            m, t, peak = _timed(lambda: _peers.networkx_louvain(g))
            rows.append(Measurement("communities", "networkx louvain", "baseline", t, peak, q(m), size))
        except ImportError:
            notes.append("networkx not installed: no pure-Python community baseline")
    if peers:
        try:
            import networkit  # noqa: F401 - its import takes seconds: keep it out of the timing

            m, t, peak = _timed(lambda: _peers.networkit_plm(g, threads))
            rows.append(Measurement("communities", "networkit PLM", "peer", t, peak, q(m), size))
        except ImportError:
            notes.append("networkit not installed: no community peer (pip install 'rbic_fast[bench]')")
    return rows


def _parser_rows(texts: list[str], threads: int) -> list[Measurement]:
    from . import parse_traces, reference

    total = sum(len(s.encode("utf-8")) for s in texts)
    size = f"{len(texts)} traces, {total / 2**20:.1f} MiB"
    rows = []
    for th in sorted({1, threads}):
        _, t, peak = _timed(lambda th=th: parse_traces(texts, threads=th))
        rows.append(
            Measurement("parser", f"rbic_fast ({th} thread{'s' if th > 1 else ''})", "ours",
                        t, peak, f"{total / 2**20 / t:.0f} MiB/s", size)
        )  # fmt: skip
    prefix, nbytes = [], 0
    for s in texts:
        if nbytes >= _REFERENCE_PARSER_BYTES:
            break
        prefix.append(s)
        nbytes += len(s.encode("utf-8"))
    _, t, peak = _timed(lambda: reference.parse_traces(prefix))
    rate = nbytes / 2**20 / t
    rows.append(
        Measurement("parser", "pure-Python reference", "baseline", total / 2**20 / rate, peak,
                    f"{rate:.1f} MiB/s (timed on {nbytes / 2**20:.1f} MiB, scaled)", size)
    )  # fmt: skip
    return rows


def _reasoning_texts(corpus: Path, limit: int) -> list[str]:
    from . import io as rio

    norm = rio.Normalizer()
    texts = []
    with open(corpus, "rb") as fh:
        for i, line in enumerate(fh):
            if i >= limit:
                break
            texts.append(norm(json.loads(line), i).reasoning)
    return texts


def run_benchmark(
    n: int = 20_000,
    *,
    threads: int | None = None,
    workdir: str | os.PathLike | None = None,
    seed: int = 0,
    kernel_n: int = 20_000,
    ratio: float = 0.16,
    repeat: int = 1,
    peers: bool = True,
    baselines: bool = True,
    log: Callable[[str], None] | None = None,
) -> BenchReport:
    """Generate a synthetic corpus of ``n`` records with embeddings, run ``rbic refine`` on it stage by stage,
    then time each kernel against its baseline and peer.

    :param n: corpus records. :param threads: threads for every tool (None: the CPUs this process may use).
    :param workdir: where the corpus and outputs go (None: a temporary folder, removed afterwards).
    :param seed: corpus seed. :param kernel_n: rows for the exact-kNN, community and parser comparisons (the
        pure-Python baselines are quadratic or slow); the whole corpus also goes through ``method="auto"`` beside
        pynndescent when it is larger or when auto picks the approximate graph.
    :param ratio: the job's budget. :param repeat: run the job this many times and check the selections agree.
    :param peers: time the peer libraries. :param baselines: time the pure-Python / NumPy baselines.
    :param log: called with a line per step (None: silent).
    """
    from .synthetic import write_corpus

    if n < 2 or kernel_n < 2 or repeat < 1:
        raise ValueError(f"need n >= 2, kernel_n >= 2 and repeat >= 1; got n={n}, kernel_n={kernel_n}, repeat={repeat}")
    threads = threads or _peers.default_threads()
    say = log or (lambda _msg: None)
    tmp = tempfile.mkdtemp(prefix="rbic-bench-") if workdir is None else None
    work = Path(tmp or workdir)
    work.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    try:
        corpus, emb_path = work / "corpus.jsonl", work / "corpus.npy"
        say(f"writing a synthetic corpus of {n} records to {work}")
        _, t_gen, _ = _timed(lambda: write_corpus(corpus, n, seed=seed, embeddings_path=emb_path))
        notes.append(f"corpus: {n} records, {corpus.stat().st_size / 2**20:.0f} MiB of JSONL, generated in {t_gen:.1f} s")
        rows: list[Measurement] = []
        kept = []
        for run in range(repeat):
            say(f"rbic refine, run {run + 1} of {repeat}")
            out = work / f"out{run}"
            summary, seconds, peak = _run_job(corpus, emb_path, out, threads, ratio)
            kept.append(_kept_ids(out))
            if run == 0:
                rows += _job_rows(summary, seconds, peak, n)
        if repeat > 1:
            same = all(np.array_equal(kept[0], k) for k in kept[1:])
            notes.append(f"selection identical across {repeat} runs: {'yes' if same else 'NO'}")
        x_all = np.load(emb_path, mmap_mode="r")
        m = min(n, kernel_n)
        x = np.ascontiguousarray(x_all[:m], dtype=np.float32)
        say(f"kNN graph, exact, {m} rows")
        knn_rows, ours = _knn_rows(x, threads, peers, notes)
        if not baselines:
            knn_rows = [r for r in knn_rows if r.role != "baseline"]
        rows += knn_rows
        if n > m or n >= AUTO_APPROX_MIN_ROWS:  # auto runs the approximate graph: show it beside its peer
            say(f"kNN graph, method='auto', all {n} rows")
            rows += _approx_rows(x_all, threads, peers, notes)
        say(f"communities, {m} nodes")
        rows += _community_rows(ours, threads, peers, baselines, notes)
        say(f"parser, {m} traces")
        rows += _parser_rows(_reasoning_texts(corpus, m), threads)
        return BenchReport(n, threads, machine_description(), tuple(rows), tuple(notes))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
