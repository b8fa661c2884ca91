"""The ``rbic`` command line: ``rbic refine DATA -o OUT --ratio 0.16 [--strategy NAME]``,
``rbic compare DATA --strategies rbic,random,kcenter -o OUT --ratio 0.16``,
``rbic synth OUT.jsonl --n 100000`` (a synthetic corpus for tests and benchmarks) and ``rbic bench [--n 20000]``
(the job and each kernel beside its baselines and peers).

Exit codes: 0 success; 2 bad arguments, bad settings or bad input data (nothing is written to OUT);
1 any other error; 130 interrupted (Ctrl-C; the cache in OUT/cache is complete up to the last finished stage or
chunk, and rerunning the same command, or ``rbic refine --resume -o OUT``, continues from there).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import fields

from . import io as rio


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(","))


def _add_run_arguments(p: argparse.ArgumentParser, *, resume: bool) -> None:
    """Input, budget and every stage setting: shared by ``refine`` and ``compare``."""
    p.add_argument("data", nargs="?", help="JSONL / JSON / Parquet / CSV file or a saved datasets folder")
    p.add_argument("-o", "--out", required=True, help="output folder")
    b = p.add_mutually_exclusive_group()
    b.add_argument("--ratio", type=float, help="keep this share of the records, e.g. 0.16")
    b.add_argument("--count", type=int, help="keep this many records")
    b.add_argument("--token-budget", type=float, help="keep at most this share of all tokens, e.g. 0.16")
    if resume:
        p.add_argument(
            "--resume",
            action="store_true",
            help="rerun the input and settings stored in OUT (after an interruption); cached stages are reused",
        )
    p.add_argument(
        "--no-cache", action="store_true", help="recompute every stage (the cache is not read or written)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no estimate, stage log or progress bars")
    g = p.add_argument_group("input")
    g.add_argument(
        "--format", choices=rio.FORMAT_NAMES, help="record format (default: detected from the keys)"
    )
    g.add_argument(
        "--field",
        dest="fields",
        metavar="NAME=KEY,...",
        help="map fields: question=, reasoning=, response=, answer=, domain=, id=, level=, score=, tokens=",
    )
    g.add_argument(
        "--on-error",
        choices=("fail", "skip"),
        default="fail",
        help="bad records: fail (default, shows the first 5) or skip them",
    )
    e = p.add_argument_group("embedding and graph")
    e.add_argument(
        "--embed-model",
        metavar="PATH",
        help="local sentence-transformers folder (default: the packaged all-MiniLM-L6-v2)",
    )
    e.add_argument("--embeddings", metavar="FILE.npy", help="precomputed embeddings, one row per record")
    e.add_argument(
        "--embed-reasoning-chars",
        type=int,
        default=0,
        help="append this many reasoning characters to the embedded question (<= 512)",
    )
    e.add_argument("--k", type=int, default=16, help="neighbours per record in the kNN graph")
    e.add_argument("--edge-threshold", type=float, default=0.5, help="minimum cosine of a graph edge")
    e.add_argument("--resolution", type=float, default=1.0, help="Leiden resolution (higher: more domains)")
    e.add_argument("--centrality", choices=("degree", "pagerank"), default="degree")
    e.add_argument(
        "--knn-method",
        choices=("auto", "exact", "approx"),
        default="auto",
        help="kNN graph: exact self-join, approximate (IVF list pairs; recall estimated and reported), or auto "
        "(exact below 5000 records; default)",
    )
    e.add_argument(
        "--knn-recall",
        type=float,
        default=0.9,
        help="approximate kNN graph: target recall@k; its probe count is chosen from rows checked exactly "
        "(default 0.9)",
    )
    e.add_argument(
        "--knn-precision",
        choices=("fp32", "bf16", "int8"),
        default="fp32",
        help="arithmetic of the kNN graph: fp32 (default); bf16 (exact graph only), a shortlist re-scored in "
        "fp32; int8, faster on CPUs with AVX512_VNNI: with a certified bound for the exact graph (the fp32 graph "
        "itself), and k + 8 candidates re-scored in fp32 for the approximate one",
    )
    e.add_argument(
        "--min-domain-size",
        type=int,
        default=3,
        help="communities smaller than this join the domain of their nearest large neighbour",
    )
    d = p.add_argument_group("difficulty")
    d.add_argument(
        "--accuracy-model", metavar="PATH", help="local model folder whose accuracy grades difficulty"
    )
    d.add_argument("--accuracy-backend", choices=("transformers", "vllm"), default="transformers")
    d.add_argument("--accuracy-field", metavar="KEY", help="field holding a precomputed accuracy in [0, 1]")
    d.add_argument(
        "--label-fraction", type=float, help="measure this share of each domain, propagate the rest"
    )
    d.add_argument("--samples", type=int, default=8, help="samples per question")
    d.add_argument("--temperature", type=float, default=0.7)
    d.add_argument("--max-new-tokens", type=int, default=4096)
    s = p.add_argument_group("contribution and selection")
    s.add_argument(
        "--weights", type=_floats, metavar="A,B,G", help="IC weights alpha,beta,gamma (default 0.5,0.3,0.2)"
    )
    s.add_argument("--lc-mode", choices=("weighted", "pca"), default="weighted")
    s.add_argument(
        "--min-score",
        type=float,
        help="never keep records whose dataset quality score is below this "
        "(e.g. 10 for the verified Math/Exam items of the R1-Distill-110k set)",
    )
    s.add_argument(
        "--dup-threshold", type=float, default=0.95, help="cosine above which records are near-duplicates"
    )
    s.add_argument("--quota-lambda", type=float, default=0.5)
    s.add_argument("--tier-weights", type=_floats, metavar="W0,..,W4", default=None)
    lm = p.add_argument_group("LM-based strategies (perplexity, ifd, influence)")
    lm.add_argument("--lm-model", metavar="PATH", help="local Hugging Face causal LM folder")
    lm.add_argument("--lm-max-length", type=int, default=2048, help="maximum tokens per example")
    lm.add_argument("--lm-batch-size", type=int, default=8, help="examples per forward/backward pass")
    lm.add_argument(
        "--validation",
        metavar="FILE",
        help="influence's validation set (any supported format); the LM answers each question and math-verify "
        "grades it against the reference answer",
    )
    lm.add_argument(
        "--validation-field",
        metavar="KEY",
        help="instead: this field marks each validation record's own answer correct (bool or >= 0.5)",
    )
    lm.add_argument("--influence-dim", type=int, default=8192, help="gradient projection dimension")
    m = p.add_argument_group("machine")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--device", help="cpu or cuda (default: GPU when present)")
    m.add_argument("--threads", type=int, help="native kernel threads (default: all cores)")


def build_parser() -> argparse.ArgumentParser:
    from .strategy_select import strategy_names

    parser = argparse.ArgumentParser(
        prog="rbic", description="Refine chain-of-thought datasets by inference contribution (RBIC)."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "refine",
        help="select the highest-contribution subset of a dataset within a budget",
        description="Writes OUT/selected.*, OUT/scores.parquet, OUT/report.html, OUT/report.md; "
        "stages are cached in OUT/cache.",
    )
    _add_run_arguments(p, resume=True)
    p.add_argument(
        "--strategy",
        metavar="NAME",
        help=f"selection strategy: {', '.join(strategy_names())} (default rbic)",
    )
    c = sub.add_parser(
        "compare",
        help="run several strategies on the same cached stages and compare them",
        description="Writes OUT/compare.csv, OUT/compare.md, OUT/compare.png, OUT/compare.html; stages are "
        "cached in OUT/cache.",
    )
    _add_run_arguments(c, resume=False)
    c.add_argument(
        "--strategies",
        metavar="A,B,...",
        default="rbic,random,length,kcenter",
        help=f"comma-separated names from: {', '.join(strategy_names())} (default rbic,random,length,kcenter)",
    )
    _add_synth_parser(sub)
    _add_bench_parser(sub)
    return parser


def _add_synth_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "synth",
        help="write a synthetic R1-style corpus with embeddings and ground truth (tests, benchmarks)",
        description="Writes OUT.jsonl, its embeddings (.npy) and ground-truth labels (.labels.parquet); "
        "see rbic_fast.synthetic.write_corpus.",
    )
    s.add_argument("out", help="output .jsonl")
    s.add_argument("--n", type=int, default=10_000, help="number of records")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--embeddings", metavar="FILE.npy", help="embeddings output (default OUT with suffix .npy)")
    s.add_argument("--labels", metavar="FILE.parquet", help="ground truth (default OUT.labels.parquet)")
    s.add_argument("--dim", type=int, default=384, help="embedding dimension")
    s.add_argument("--domains", type=int, default=10, help="number of knowledge domains (1..10)")
    s.add_argument("--zh-share", type=float, default=0.2, help="share of Chinese records")
    s.add_argument("--dup-share", type=float, default=0.03, help="share of near-duplicates")
    s.add_argument("--median-chars", type=float, default=1500, help="median reasoning length (English chars)")
    s.add_argument("--max-chars", type=int, default=40_000, help="cap of the reasoning length")
    s.add_argument("--format", choices=("sft", "raw"), default="sft", help="R1-Distill SFT or raw records")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _synth(args: argparse.Namespace) -> int:
    from .synthetic import write_corpus

    try:
        info = write_corpus(
            args.out, args.n, seed=args.seed, embeddings_path=args.embeddings, labels_path=args.labels,
            d=args.dim, n_domains=args.domains, zh_share=args.zh_share, dup_share=args.dup_share,
            median_chars=args.median_chars, max_chars=args.max_chars, record_format=args.format,
            progress=not args.quiet,
        )
    except ValueError as exc:
        print(f"rbic: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rbic: interrupted; nothing was written", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"rbic: failed: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {info.n} records ({info.bytes / 1e6:.1f} MB) -> {info.path}, embeddings -> "
          f"{info.embeddings_path}, labels -> {info.labels_path}")
    return 0


def _add_bench_parser(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser(
        "bench",
        help="time the whole job and each kernel against its baseline and peers on a synthetic corpus",
        description="Generates a synthetic corpus with embeddings, runs `rbic refine` on it stage by stage "
        "(time, peak memory), then times each native kernel beside its pure-Python baseline and the fastest "
        "peer library, same data and threads, and prints the tables (markdown).",
    )
    b.add_argument("--n", type=int, default=20_000, help="corpus records (default 20000: a laptop minute)")
    b.add_argument("--threads", type=int, help="threads for every tool (default: all cores)")
    b.add_argument("--kernel-n", type=int, default=20_000,
                   help="rows for the exact-kNN, community and parser comparisons (default 20000)")
    b.add_argument("--repeat", type=int, default=1, help="run the job this many times and compare selections")
    b.add_argument("--seed", type=int, default=0, help="corpus seed")
    b.add_argument("--workdir", help="keep the corpus and outputs here (default: a temporary folder)")
    b.add_argument("--no-peers", action="store_true", help="skip the peer libraries")
    b.add_argument("--no-baselines", action="store_true", help="skip the pure-Python / NumPy baselines")
    b.add_argument("-o", "--out", help="also write the tables to this markdown file")


def _bench(args: argparse.Namespace) -> int:
    from .benchmark import run_benchmark
    from .io import write_text_atomic

    try:
        report = run_benchmark(
            args.n, threads=args.threads, workdir=args.workdir, seed=args.seed, kernel_n=args.kernel_n,
            repeat=args.repeat, peers=not args.no_peers, baselines=not args.no_baselines,
            log=lambda msg: print(f"rbic bench: {msg}", file=sys.stderr, flush=True),
        )  # fmt: skip
    except KeyboardInterrupt:
        return 130
    except ValueError as exc:
        print(f"rbic: error: {exc}", file=sys.stderr)
        return 2
    text = report.to_markdown()
    print(text, end="")
    if args.out:
        write_text_atomic(args.out, text)
    return 0


def _config_from_args(args: argparse.Namespace) -> dict:
    from .pipeline import RefineConfig

    names = {f.name for f in fields(RefineConfig)}
    settings = {k: v for k, v in vars(args).items() if k in names and v is not None}
    if args.weights is not None:
        if len(args.weights) != 3:
            raise ValueError(f"--weights needs three numbers alpha,beta,gamma, got {args.weights}")
        settings.update(alpha=args.weights[0], beta=args.weights[1], gamma=args.weights[2])
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rbic`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "synth":
        return _synth(args)
    if args.command == "bench":
        return _bench(args)
    from .pipeline import RefineConfig, load_run_config, refine

    if args.quiet:  # model-loading bars of transformers / sentence-transformers (read when they are imported)
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

    try:
        settings = _config_from_args(args)
        budget_given = any(getattr(args, k) is not None for k in ("ratio", "count", "token_budget"))
        if args.command == "compare":
            from .compare import run

            if args.data is None:
                parser.error("give the input DATA")
            if not budget_given:
                parser.error("give a budget: --ratio, --count or --token-budget")
            cmp = run(args.data, args.strategies, out=args.out, progress=not args.quiet, quiet=args.quiet,
                      use_cache=not args.no_cache, **settings)
        elif args.resume:
            data, stored = load_run_config(args.out)
            if args.data is not None and args.data != data:
                raise ValueError(f"--resume reruns {data}; do not give another input ({args.data})")
            cfg = stored
            # a new budget or strategy on resume: every cached stage is reused
            settings = {k: settings[k] for k in ("ratio", "count", "token_budget", "strategy") if k in settings}
        else:
            if args.data is None:
                parser.error("give the input DATA (or --resume -o OUT)")
            if not budget_given:
                parser.error("give a budget: --ratio, --count or --token-budget")
            data, cfg = args.data, RefineConfig()
        if args.command == "refine":
            result = refine(
                data,
                out=args.out,
                config=cfg,
                progress=not args.quiet,
                quiet=args.quiet,
                use_cache=not args.no_cache,
                **settings,
            )
    except KeyboardInterrupt:
        print(
            f"rbic: interrupted; finished stages are cached in {args.out}/cache — rerun the same command "
            f"(or `rbic refine --resume -o {args.out}`) to continue",
            file=sys.stderr,
        )
        return 130
    except (ValueError, TypeError, FileNotFoundError, ImportError) as exc:
        print(f"rbic: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a clean message and exit code, never a bare traceback
        print(f"rbic: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.command == "compare":
        print(f"compared {', '.join(r.strategy for r in cmp.rows)} -> {args.out}/compare.md")
        return 0
    summary = result.summary
    print(
        f"kept {summary['kept']} of {summary['records']} records ({summary['kept_share']:.1%}), "
        f"{summary['token_share_kept']:.1%} of tokens, {summary['domains']} domains -> {args.out}"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
