"""One table per size: rbic_fast's approximate kNN graph vs faiss IVF-Flat / HNSW, hnswlib, usearch, pynndescent.

Each tool runs in its own subprocess with the same thread limit (peak RSS from /proc/self/status VmHWM, which
sees native allocations; pynndescent's one-off numba compilation is done before the clock starts); recall@k is
measured against the exact neighbours of a seeded sample of rows.
rbic_fast's exact self-join is included for the exact/approximate crossover.

    python bench/knn_approx_table.py --sizes 100000 --threads 2
    python bench/knn_approx_table.py --sizes 1000000 --tools rbic_approx pynndescent:n_neighbors=30 \\
        faiss_ivf:nlist=4000,nprobe=16

A tool is ``name`` or ``name:key=value,...`` (its keyword arguments in rbic_fast/_peers.py; ``rbic_approx`` takes
``knn_graph``'s ``nlist``, ``nprobe``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import tempfile

from tool_process import run_worker, vm_kib

DEFAULT_TOOLS = [
    "rbic_exact",
    "rbic_approx",
    "faiss_ivf:nprobe=32",
    "faiss_ivf:nprobe=64",
    "faiss_hnsw:ef_search=32",
    "hnswlib:ef=48",
    "usearch:expansion_search=64",
    "pynndescent:n_neighbors=17",
    "pynndescent:n_neighbors=30",
]


def parse_tool(spec: str) -> tuple[str, dict[str, int]]:
    name, _, params = spec.partition(":")
    kwargs = {kv.split("=")[0]: int(kv.split("=")[1]) for kv in params.split(",") if kv}
    return name, kwargs


def worker(spec: str, data: str, k: int, threads: int, out: str) -> None:
    import time

    import numpy as np
    import rbic_fast
    from rbic_fast import _peers as kb

    name, kw = parse_tool(spec)
    if name.startswith("faiss"):
        import faiss

        faiss.omp_set_num_threads(threads)
    if name == "pynndescent":
        # Compile its numba kernels first (one-off per process, ~1 min): the run then times the graph alone.
        kb.pynndescent_knn(
            np.random.default_rng(0).standard_normal((2000, 16)).astype(np.float32), k, threads
        )
    x = np.load(data)
    n = len(x)
    before = vm_kib("VmRSS")
    start = time.perf_counter()
    extra: dict = {}
    if name == "rbic_exact":
        idx = rbic_fast.knn_graph(x, k, threads=threads).indices
    elif name == "rbic_approx":
        g = rbic_fast.knn_graph(x, k, method="approx", threads=threads, **kw)
        idx = g.indices
        extra = {"estimated_recall": g.recall, "scored_per_row": g.shortlist}
    elif name == "faiss_ivf":
        kw.setdefault("nlist", int(4 * n**0.5))
        idx = kb.faiss_ivf_knn(x, k, **kw)
    elif name == "faiss_hnsw":
        idx = kb.faiss_hnsw_knn(x, k, **kw)
    elif name == "hnswlib":
        idx = kb.hnswlib_knn(x, k, threads, **kw)
    elif name == "usearch":
        idx = kb.usearch_knn(x, k, threads, **kw)
    elif name == "pynndescent":
        idx = kb.pynndescent_knn(x, k, threads, **kw)
    else:
        raise SystemExit(f"unknown tool {name}")
    seconds = time.perf_counter() - start
    np.save(out, np.asarray(idx, dtype=np.int64))
    print(
        json.dumps(
            {"seconds": seconds, "hwm_mb": vm_kib("VmHWM") / 1024, "input_rss_mb": before / 1024, **extra}
        )
    )


def run_tool(spec: str, data: str, k: int, threads: int, out: str) -> dict:
    return run_worker(__file__, [spec, data, str(k), str(threads), out], threads, faiss=spec.startswith("faiss"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", type=int, default=[100_000])
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sample", type=int, default=2000, help="rows whose exact neighbours give recall@k")
    ap.add_argument("--tools", nargs="+", default=DEFAULT_TOOLS)
    ap.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        spec, data, k, threads, out = args.worker
        worker(spec, data, int(k), int(threads), out)
        return

    import numpy as np
    import rbic_fast
    from rbic_fast._peers import exact_rows, recall_at_k
    from rbic_fast.benchmark import cpu_model
    from rbic_fast.synthetic import clustered_embeddings

    cpu = cpu_model()
    print(
        f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {cpu}, {os.cpu_count()} cores, "
        f"threads={args.threads}, k={args.k}, load avg {os.getloadavg()[0]:.1f}; rbic_fast {rbic_fast.__version__}"
    )
    print(
        f"# clustered unit-norm float32 embeddings (clustered_embeddings(n, {args.d}, seed=0): 200 clusters, "
        f"spread 0.5); recall@{args.k} vs exact neighbours of {args.sample} seeded random rows"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            data = os.path.join(tmp, "x.npy")
            x = clustered_embeddings(n, args.d, seed=0)[0]
            np.save(data, x)
            rows = np.sort(np.random.default_rng(12345).choice(n, size=min(args.sample, n), replace=False))
            truth = exact_rows(x, rows, args.k)
            del x
            print(f"\n## n = {n}, d = {args.d}\n")
            print("| tool | settings | seconds | recall@k | peak RSS MB | above input MB | notes |")
            print("|---|---|---|---|---|---|---|")
            for spec in args.tools:
                r = run_tool(spec, data, args.k, args.threads, os.path.join(tmp, "idx.npy"))
                name, kw = parse_tool(spec)
                settings = ", ".join(f"{a}={b}" for a, b in kw.items()) or "defaults"
                if "error" in r:
                    print(f"| {name} | {settings} | — | — | — | — | failed: {r['error']} |", flush=True)
                    continue
                rec = recall_at_k(np.load(os.path.join(tmp, "idx.npy"))[rows], truth)
                notes = ""
                if r.get("estimated_recall") is not None:
                    notes = f"own estimate {r['estimated_recall']:.3f}, {r['scored_per_row']:.0f} rows scored per row"
                print(
                    f"| {name} | {settings} | {r['seconds']:.3g} | {rec:.3f} | {r['hwm_mb']:.0f} "
                    f"| {r['hwm_mb'] - r['input_rss_mb']:.0f} | {notes} |",
                    flush=True,
                )
    print(f"\n# load avg at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
