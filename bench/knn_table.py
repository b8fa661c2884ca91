"""Print one side-by-side table: rbic_fast.knn_graph (fp32, bf16, int8) vs faiss IndexFlatIP vs NumPy.

Each tool runs in its own subprocess (thread limits set before any import; peak RSS from
/proc/self/status VmHWM, which sees native allocations), rounds interleaved so that load drift on a
shared machine hits every tool alike. Times are the best of --repeat rounds.

    python bench/knn_table.py --sizes 20000x384 20000x1024 100000x384 --threads 2
    python bench/knn_table.py --sizes build/bench_cache/real_gsm8k_math.npy   # real embeddings
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import tempfile

from tool_process import run_worker, vm_kib

TOOLS = ["rbic_fp32", "rbic_bf16", "rbic_int8", "faiss", "numpy", "sgemm_half"]
# sgemm_half: NumPy/OpenBLAS sgemm over the same upper-triangle block pairs the self-join computes, with no
# normalisation or top-k: the bare-BLAS speed reference for rbic_fast's own kernel (same 2n²d/t metric).


def worker(tool: str, data: str, k: int, threads: int, out: str) -> None:
    import time

    import numpy as np
    import rbic_fast
    from rbic_fast._peers import faiss_knn, numpy_knn

    if tool == "faiss":
        import faiss

        faiss.omp_set_num_threads(threads)
    x = np.load(data)
    before = vm_kib("VmRSS")
    start = time.perf_counter()
    extra = {}
    if tool.startswith("rbic"):
        g = rbic_fast.knn_graph(x, k, precision=tool.split("_")[1], threads=threads)
        idx = g.indices
        extra = {"shortlist": g.shortlist, "kernel": g.kernel}
    elif tool == "faiss":
        idx, _ = faiss_knn(x, k)
    elif tool == "numpy":
        idx, _ = numpy_knn(x, k)
    else:
        for s in range(0, len(x), 2048):
            x[s : s + 2048] @ x[s:].T
        idx = None
    seconds = time.perf_counter() - start
    if idx is not None:
        np.save(out, idx.astype(np.int64))
    print(
        json.dumps(
            {"seconds": seconds, "hwm_mb": vm_kib("VmHWM") / 1024, "input_rss_mb": before / 1024, **extra}
        )
    )


def run_tool(tool: str, data: str, k: int, threads: int, out: str) -> dict:
    r = run_worker(__file__, [tool, data, str(k), str(threads), out], threads, faiss=tool == "faiss")
    if "error" in r:
        raise RuntimeError(f"{tool} failed: {r['error']}")
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--sizes", nargs="+", default=["20000x384"],
        help="n x d pairs of clustered synthetic embeddings (e.g. 20000x384), or .npy files of real embeddings",
    )  # fmt: skip
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="rounds per tool (best time kept)")
    ap.add_argument("--tools", nargs="+", default=TOOLS[:5], choices=TOOLS)
    ap.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        tool, data, k, threads, out = args.worker
        worker(tool, data, int(k), int(threads), out)
        return

    import numpy as np
    import rbic_fast
    from rbic_fast._peers import recall_at_k
    from rbic_fast.benchmark import cpu_model
    from rbic_fast.synthetic import clustered_embeddings

    cpu = cpu_model()
    info = rbic_fast.build_info()
    print(
        f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {cpu}, {os.cpu_count()} cores, "
        f"threads={args.threads}, k={args.k}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'PASSIVE')}, load avg {os.getloadavg()[0]:.1f}, best of {args.repeat}"
    )
    print(
        f"# rbic_fast {info['version']} ({info['simd']}, {','.join(info['cpu_features'])}), numpy {np.__version__}"
        + (f", faiss {__import__('faiss').__version__}" if "faiss" in args.tools else "")
    )
    print(
        "# clustered unit-norm float32 embeddings (rbic_fast.synthetic.clustered_embeddings, seed 0) unless a .npy "
        "file is named; recall@k vs faiss IndexFlatIP (vs rbic fp32 when faiss is not run)"
    )
    print()
    print(
        "| n | d | tool | seconds | GFLOP/s (2n²d/t) | speed-up vs faiss | vs NumPy | recall@k | re-scored/row "
        "| peak RSS MB | above input MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            data = os.path.join(tmp, "x.npy")
            if size.endswith(".npy"):  # real embeddings
                x = np.ascontiguousarray(np.load(size), dtype=np.float32)
                print(f"# {size}: {x.shape[0]} x {x.shape[1]} embeddings", flush=True)
            else:
                x = clustered_embeddings(*(int(v) for v in size.lower().split("x")), seed=0)[0]
            n, d = x.shape
            np.save(data, x)
            del x
            res: dict[str, dict] = {}
            for _ in range(args.repeat):
                for tool in args.tools:
                    r = run_tool(tool, data, args.k, args.threads, os.path.join(tmp, f"{tool}.npy"))
                    best = res.get(tool)
                    if best is None or r["seconds"] < best["seconds"]:
                        res[tool] = r
            ref = "faiss" if "faiss" in res else "rbic_fp32"
            truth = np.load(os.path.join(tmp, f"{ref}.npy")) if ref in res else None
            for tool, r in res.items():
                t = r["seconds"]
                vs = {b: (f"{res[b]['seconds'] / t:.2f}x" if b in res else "—") for b in ("faiss", "numpy")}
                found = os.path.join(tmp, f"{tool}.npy")
                rec = (
                    f"{recall_at_k(np.load(found), truth):.5f}"
                    if truth is not None and os.path.exists(found)
                    else "—"
                )
                short = f"{r['shortlist']:.1f}" if "shortlist" in r else "—"
                name = f"{tool} ({r['kernel']})" if "kernel" in r else tool
                print(
                    f"| {n} | {d} | {name} | {t:.2f} | {2 * n * n * d / t / 1e9:.0f} | {vs['faiss']} | {vs['numpy']} "
                    f"| {rec} | {short} | {r['hwm_mb']:.0f} | {r['hwm_mb'] - r['input_rss_mb']:.0f} |",
                    flush=True,
                )
    print(f"\n# load avg at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
