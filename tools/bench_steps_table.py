"""Ratio table for the trace parser: native MB/s on 1 and 2 threads vs the pure-Python reference, measured side
by side in one run, on >= 1 GB of real traces and on synthetic long R1-style traces; plus linearity in size and
peak memory when the corpus is fed in batches.

Usage: PYTHONPATH=python:tools python tools/bench_steps_table.py [--gb 1.0] [--repeats 3] [--dataset-mb 64]
Prints markdown tables (the README's tables come from this script). `--gb 0` prints only the per-dataset table.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

import rbic_fast
from rbic_fast import reference
from steps_bench_corpus import real_traces, real_traces_by_dataset, replicate, synthetic_r1


def best_time(fn, repeats: int, clock=time.perf_counter) -> float:
    """Best of `repeats` runs on `clock` (wall clock by default; time.process_time gives CPU seconds)."""
    best = float("inf")
    for _ in range(repeats):
        t = clock()
        fn()
        best = min(best, clock() - t)
    return best


def timed(fn) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one run of fn."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def reference_mbps(texts: list[str], target: int, clock) -> float:
    """Reference MB/s on the first `target` bytes of texts (it runs at a few MB/s)."""
    sample, size = [], 0
    for t in texts:
        sample.append(t)
        size += len(t.encode())
        if size >= target:
            break
    return size / 1e6 / best_time(lambda: reference.parse_traces(sample), 1, clock)


def rss_mb() -> float:
    """Current resident set size (Linux /proc), in MB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def by_dataset(target: int, repeats: int) -> None:
    """One thread, MB per CPU-second, each dataset's traces replicated to `target` bytes. The datasets take turns
    in every round (best of `repeats` rounds kept), so that the machine's load falls on all of them alike."""
    corpora = {name: replicate(texts, target) for name, texts in real_traces_by_dataset().items()}
    best = dict.fromkeys(corpora, float("inf"))
    load_before = os.getloadavg()
    for _ in range(repeats):
        for name, arr in corpora.items():
            best[name] = min(best[name], best_time(lambda a=arr: rbic_fast.parse_traces(a, threads=1), 1,
                                                   time.process_time))
    print(f"per dataset, 1 thread, best of {repeats} interleaved rounds; load average before {load_before[0]:.1f}, "
          f"after {os.getloadavg()[0]:.1f}")
    print()
    print("| dataset | MB | rows | bytes per row | native 1 thread MB/CPU-s |")
    print("|---|---|---|---|---|")
    for name, arr in corpora.items():
        size = arr.buffers()[2].size
        print(f"| {name} | {size / 1e6:.0f} | {len(arr):,} | {size / len(arr):.0f} | {size / 1e6 / best[name]:.0f} |")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--gb", type=float, default=1.0, help="size of each corpus in GB (default 1)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per cell, best kept (default 3)")
    ap.add_argument("--dataset-mb", type=float, default=64, help="size of each dataset's corpus in MB (default 64)")
    args = ap.parse_args()
    by_dataset(int(args.dataset_mb * 1e6), max(3, args.repeats))
    if args.gb <= 0:
        return
    target = int(args.gb * 1e9)
    texts = real_traces()
    long_r1 = synthetic_r1(40, 250_000, seed=0)
    rows = []
    load_before = os.getloadavg()
    for name, base in (("real traces (R1, GSM8K, MATH, AQuA, Ape210K, Math23K)", texts),
                       ("synthetic long R1-style traces (250k chars)", long_r1)):
        arr = replicate(base, target)
        nbytes = arr.buffers()[2].size
        # One thread: wall clock and CPU seconds of the same runs, best of each. On a shared machine the wall
        # clock also counts time the process waited for a core; the CPU seconds show the per-core speed.
        runs = [timed(lambda a=arr: rbic_fast.parse_traces(a, threads=1)) for _ in range(args.repeats)]
        wall1, cpu1 = min(w for w, _ in runs), min(c for _, c in runs)
        mbps = {1: nbytes / 1e6 / wall1,
                2: nbytes / 1e6 / best_time(lambda a=arr: rbic_fast.parse_traces(a, threads=2), args.repeats)}
        cpu = nbytes / 1e6 / cpu1
        ref = reference_mbps(base, 2_000_000, time.perf_counter)
        ref_cpu = reference_mbps(base, 2_000_000, time.process_time)
        rows.append((name, nbytes / 1e9, len(arr), mbps[1], mbps[2], cpu, ref, ref_cpu))
        del arr
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}; native: best of "
          f"{args.repeats} runs per cell")
    print()
    print("| corpus | GB | rows | native 1 thread MB/s | native 2 threads MB/s | 2-thread speed-up | "
          "reference MB/s | native / reference | native 1 thread MB/CPU-s | reference MB/CPU-s | "
          "native / reference (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, gb, n, one, two, cpu, ref, ref_cpu in rows:
        print(f"| {name} | {gb:.2f} | {n:,} | {one:.0f} | {two:.0f} | {two / one:.2f}x | {ref:.2f} | {one / ref:.0f}x | "
              f"{cpu:.0f} | {ref_cpu:.2f} | {cpu / ref_cpu:.0f}x |")

    # The kernel sets (AVX2: CPUs without AVX-512BW; portable: without AVX2), side by side with the default
    # choice: the sets interleaved in every round, wall clock and CPU seconds of the same runs, best of each.
    arr = replicate(texts, target // 4)
    size = arr.buffers()[2].size
    isas = ("auto", "avx2", "portable")
    saved = os.environ.get("RBIC_STEPS_ISA")
    runs = {isa: [] for isa in isas}
    for _ in range(args.repeats):
        for isa in isas:
            os.environ["RBIC_STEPS_ISA"] = isa
            runs[isa].append(timed(lambda a=arr: rbic_fast.parse_traces(a, threads=1)))
    if saved is None:
        del os.environ["RBIC_STEPS_ISA"]
    else:
        os.environ["RBIC_STEPS_ISA"] = saved
    print()
    print("| kernels (RBIC_STEPS_ISA) | real corpus MB | native 1 thread MB/s | native 1 thread MB/CPU-s |")
    print("|---|---|---|---|")
    for isa in isas:
        wall, cpu = min(w for w, _ in runs[isa]), min(c for _, c in runs[isa])
        name = rbic_fast._core.StepParser.resolve_isa(isa)
        print(f"| {isa} ({name}) | {size / 1e6:.0f} | {size / 1e6 / wall:.0f} | {size / 1e6 / cpu:.0f} |")
    del arr

    # Linearity: prefixes of the 1 GB corpus (zero-copy slices of the same buffers), interleaved in every round so
    # that the machine's load falls on all sizes alike; the best of the rounds is kept, in CPU seconds and wall.
    arr = replicate(texts, target)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[: len(arr) + 1]
    prefixes = []
    for frac in (0.125, 0.25, 0.5, 1.0):
        rows = int(np.searchsorted(offsets, frac * offsets[-1]))
        prefixes.append((arr.slice(0, rows), int(offsets[rows])))
    rounds = max(2, args.repeats)
    runs = [[timed(lambda a=part: rbic_fast.parse_traces(a, threads=1)) for part, _ in prefixes]
            for _ in range(rounds)]  # (sizes interleaved in every round)
    best_wall = [min(r[k][0] for r in runs) for k in range(len(prefixes))]
    best_cpu = [min(r[k][1] for r in runs) for k in range(len(prefixes))]
    print()
    print(f"linearity: prefixes of the real corpus, 1 thread, best of {rounds} interleaved rounds")
    print()
    print("| real corpus size MB | native 1 thread MB/s | native 1 thread MB/CPU-s | MB/CPU-s relative to the largest |")
    print("|---|---|---|---|")
    full = prefixes[-1][1] / best_cpu[-1]
    for (_, size), wall, cpu in zip(prefixes, best_wall, best_cpu):
        print(f"| {size / 1e6:.0f} | {size / 1e6 / wall:.0f} | {size / 1e6 / cpu:.0f} | {size / cpu / full:.2f} |")
    del prefixes

    # Memory: feeding the corpus in 64 MB batches keeps the resident set flat (outputs are per batch).
    rss0 = rss_mb()
    batch_rows = max(1, int(len(arr) * 64e6 / arr.buffers()[2].size))
    growth = []
    for start in range(0, len(arr), batch_rows):
        rbic_fast.parse_traces(arr.slice(start, batch_rows), threads=2)
        growth.append(rss_mb() - rss0)
    print()
    print(f"batches of 64 MB over {arr.buffers()[2].size / 1e9:.2f} GB: resident memory growth after the first "
          f"batch {growth[0]:.0f} MB, largest after any of the {len(growth)} batches {max(growth):.0f} MB")


if __name__ == "__main__":
    main()
