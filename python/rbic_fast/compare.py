"""Side-by-side metrics of several selections of the same records (``rbic compare``).

One row per strategy: kept samples and tokens, domain / difficulty-tier / (domain × tier) coverage,
redundancy (mean over kept samples of the max cosine to another kept sample), representativeness (the
facility-location objective ``mean_i max_{j kept} cos(e_i, e_j)`` over all samples), mean accuracy, mean
complexity (RBIC's logical complexity, :func:`rbic_fast.contribution.logical_complexity` of the trace features
with the default weights, ranked within the record's domain), and time.

:func:`run` is the whole ``rbic compare``: the pipeline's cached stages once, every strategy on them, the table
(``compare.csv``, ``compare.md``) and the plot (``compare.png``, inline in ``compare.html``).
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from ._progress import ProgressArg
from .budget import Budget
from .contribution import logical_complexity
from .strategies.base import StrategyInput, select


@dataclass(frozen=True)
class SelectionMetrics:
    """Metrics of one selection (NaN where the needed input is missing).

    :param strategy: strategy name.
    :param kept: samples kept.
    :param kept_share: kept / all samples.
    :param tokens: tokens kept.
    :param token_share: tokens kept / all tokens.
    :param domain_coverage: share of non-empty domains with a kept sample.
    :param tier_coverage: share of present difficulty tiers (0..4) with a kept sample.
    :param cell_coverage: share of non-empty (domain, tier) cells with a kept sample.
    :param redundancy: mean over kept samples of the max cosine to another kept sample (lower: less redundant).
    :param representativeness: mean over samples of the max cosine to a kept sample (higher: better covered).
    :param mean_accuracy: mean measured accuracy of the kept samples (lower: harder).
    :param mean_complexity: mean logical complexity of the kept samples (see :func:`complexity_of`).
    :param seconds: time the strategy took.
    """

    strategy: str
    kept: int
    kept_share: float
    tokens: int
    token_share: float
    domain_coverage: float
    tier_coverage: float
    cell_coverage: float
    redundancy: float
    representativeness: float
    mean_accuracy: float
    mean_complexity: float
    seconds: float


def _coverage(groups: np.ndarray, keep: np.ndarray) -> float:
    present = np.unique(groups)
    return float(np.isin(present, np.unique(groups[keep])).mean()) if len(present) else float("nan")


def max_cosine(queries: np.ndarray, keys: np.ndarray, *, exclude_self: np.ndarray | None = None,
               block: int = 4096) -> np.ndarray:
    """``max_j queries_i . keys_j`` for each query row, in blocks (float32 GEMMs).

    :param queries: (q, d) rows.
    :param keys: (k, d) rows.
    :param exclude_self: (q,) index into ``keys`` to leave out for each query (-1: none).
    :param block: query rows per GEMM.
    """
    out = np.full(len(queries), -np.inf, dtype=np.float32)
    if len(keys) == 0:
        return out
    for lo in range(0, len(queries), block):
        sim = queries[lo : lo + block] @ keys.T
        if exclude_self is not None:
            rows = np.arange(sim.shape[0])
            own = exclude_self[lo : lo + block]
            valid = own >= 0
            sim[rows[valid], own[valid]] = -np.inf
        out[lo : lo + block] = sim.max(axis=1)
    return out


def complexity_of(inp: StrategyInput) -> np.ndarray | None:
    """RBIC's logical complexity (DESIGN §1.5, default weights) of every record, from ``inp.features`` ranked
    within ``inp.domain`` (one domain when absent); None without features."""
    if inp.features is None:
        return None
    domain = np.zeros(inp.n, dtype=np.int64) if inp.domain is None else np.asarray(inp.domain)
    return logical_complexity(inp.features, domain)


def selection_metrics(
    inp: StrategyInput,
    name: str,
    keep: np.ndarray,
    seconds: float = float("nan"),
    *,
    max_eval_rows: int | None = 20000,
    seed: int = 0,
) -> SelectionMetrics:
    """Metrics of one keep mask.

    :param inp: the records.
    :param name: strategy name for the row.
    :param keep: (n,) bool keep mask.
    :param seconds: time the strategy took.
    :param max_eval_rows: representativeness is averaged over at most this many samples (a seeded uniform
        sample of rows; None: all), and redundancy over at most this many kept samples.
    :param seed: seed of that sample.
    """
    keep = np.asarray(keep, dtype=bool)
    n = inp.n
    complexity = complexity_of(inp)
    if keep.shape != (n,):
        raise ValueError(f"mask of strategy {name!r} has shape {keep.shape}, expected ({n},)")
    tokens = np.asarray(inp.tokens, dtype=np.int64)
    nan = float("nan")
    domain = None if inp.domain is None else np.asarray(inp.domain)
    tier = None if inp.tier is None else np.asarray(inp.tier)
    known = None if tier is None else tier >= 0
    redundancy = representativeness = nan
    if inp.embeddings is not None and keep.any():
        e = np.ascontiguousarray(inp.embeddings, dtype=np.float32)
        kept_idx = np.flatnonzero(keep)
        rng = np.random.default_rng(seed)
        q = kept_idx if max_eval_rows is None or len(kept_idx) <= max_eval_rows else np.sort(
            rng.choice(kept_idx, max_eval_rows, replace=False))
        if len(kept_idx) > 1:
            pos = np.searchsorted(kept_idx, q)
            redundancy = float(max_cosine(e[q], e[kept_idx], exclude_self=pos).mean())
        rows = np.arange(n) if max_eval_rows is None or n <= max_eval_rows else np.sort(
            rng.choice(n, max_eval_rows, replace=False))
        representativeness = float(max_cosine(e[rows], e[kept_idx]).mean())
    acc = None if inp.accuracy is None else np.asarray(inp.accuracy, dtype=np.float64)
    return SelectionMetrics(
        strategy=name,
        kept=int(keep.sum()),
        kept_share=float(keep.mean()) if n else nan,
        tokens=int(tokens[keep].sum()),
        token_share=float(tokens[keep].sum() / tokens.sum()) if tokens.sum() else nan,
        domain_coverage=nan if domain is None else _coverage(domain, keep),
        tier_coverage=nan if tier is None else _coverage(tier[known], keep[known]),
        cell_coverage=nan if domain is None or tier is None else _coverage(
            domain[known].astype(np.int64) * 8 + tier[known], keep[known]),
        redundancy=redundancy,
        representativeness=representativeness,
        mean_accuracy=nan if acc is None or not np.isfinite(acc[keep]).any() else float(np.nanmean(acc[keep])),
        mean_complexity=nan if complexity is None or not keep.any() else float(
            np.nanmean(np.asarray(complexity, dtype=np.float64)[keep])),
        seconds=float(seconds),
    )


def compare_selections(
    inp: StrategyInput,
    selections: Mapping[str, np.ndarray | tuple[np.ndarray, float]],
    *,
    max_eval_rows: int | None = 20000,
    seed: int = 0,
) -> list[SelectionMetrics]:
    """One :class:`SelectionMetrics` row per selection.

    :param inp: the records all selections refer to (``features`` give the mean complexity).
    :param selections: ``{name: mask}`` or ``{name: (mask, seconds)}``.
    :param max_eval_rows: see :func:`selection_metrics`.
    :param seed: seed of the evaluation sample.
    """
    rows = []
    for name, value in selections.items():
        mask, seconds = value if isinstance(value, tuple) else (value, float("nan"))
        rows.append(selection_metrics(inp, name, mask, seconds, max_eval_rows=max_eval_rows, seed=seed))
    return rows


def run_strategies(
    inp: StrategyInput,
    names: Sequence[str],
    budget: Budget,
    *,
    seed: int = 0,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, tuple[np.ndarray, float]]:
    """Run several strategies at the same budget and time each one.

    :param inp: the records.
    :param names: strategy names.
    :param budget: the shared budget.
    :param seed: the shared seed.
    :param options: per-strategy options, ``{name: {option: value}}``.
    :return: ``{name: (mask, seconds)}``, ready for :func:`compare_selections`.
    """
    options = options or {}
    out = {}
    for name in names:
        t0 = time.perf_counter()
        mask = select(name, inp, budget, seed=seed, **dict(options.get(name, {})))
        out[name] = (mask, time.perf_counter() - t0)
    return out


def to_frame(rows: Sequence[SelectionMetrics]) -> Any:
    """The rows as a pandas DataFrame indexed by strategy (pandas is imported here)."""
    import pandas as pd

    return pd.DataFrame([asdict(r) for r in rows]).set_index("strategy")


PLOTTED = ("token_share", "domain_coverage", "tier_coverage", "cell_coverage", "redundancy",
           "representativeness", "mean_accuracy", "mean_complexity")


def plot_comparison(rows: Sequence[SelectionMetrics], path: str | None = None,
                    metrics: Sequence[str] = PLOTTED) -> Any:
    """Bar charts of the metrics, one panel per metric (matplotlib is imported here).

    :param rows: the comparison rows.
    :param path: save the figure there (png/pdf/svg by extension) when given.
    :param metrics: which fields to plot; all-NaN ones are skipped.
    :return: the matplotlib figure.
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    names = [r.strategy for r in rows]
    shown = [m for m in metrics if any(np.isfinite(getattr(r, m)) for r in rows)]
    if not shown:
        raise ValueError("nothing to plot: every requested metric is NaN")
    cols = min(4, len(shown))
    nrows = (len(shown) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.6 * nrows), squeeze=False)
    for ax, m in zip(axes.ravel(), shown):
        ax.bar(range(len(rows)), [getattr(r, m) for r in rows], color="C0")
        ax.set_title(m.replace("_", " "), fontsize=9)
        ax.set_xticks(range(len(rows)), names, rotation=45, ha="right", fontsize=8)
    for ax in axes.ravel()[len(shown):]:
        ax.axis("off")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


# ----------------------------------------------------------------------------------------------------------------
# rbic compare
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """Outcome of :func:`run`.

    :ivar rows: one :class:`SelectionMetrics` per strategy, in the order asked.
    :ivar keep: ``{strategy: (n,) bool keep mask}`` over the loaded records.
    :ivar out: the output folder, or None.
    """

    rows: tuple[SelectionMetrics, ...]
    keep: dict[str, np.ndarray]
    out: Path | None

    def frame(self) -> Any:
        """The rows as a pandas DataFrame indexed by strategy."""
        return to_frame(self.rows)


def _strategy_list(strategies: str | Sequence[str]) -> list[str]:
    items = strategies.split(",") if isinstance(strategies, str) else list(strategies)
    out = [s.strip() for s in items if s.strip()]
    if not out:
        raise ValueError("give at least one strategy, e.g. rbic,random,length,kcenter")
    dups = sorted({s for s in out if out.count(s) > 1})
    if dups:
        raise ValueError(f"strategies named twice: {dups}")
    return out


def run(
    data: Any,
    strategies: str | Sequence[str],
    ratio: float | None = None,
    count: int | None = None,
    token_budget: float | None = None,
    *,
    out: str | os.PathLike | None = None,
    config: Any = None,
    progress: ProgressArg = None,
    quiet: bool = True,
    use_cache: bool = True,
    max_eval_rows: int | None = 20000,
    **settings: Any,
) -> Comparison:
    """Run several strategies on the same cached stages at the same budget and compare them (``rbic compare``).

    The stages (load, embed, graph, accuracy) run once (or come from ``OUT/cache``); each strategy's time is its
    own selection (for ``rbic``: contribution + selection; for the LM strategies: their LM passes unless
    cached). Writes ``compare.csv``, ``compare.md``, ``compare.png`` and ``compare.html`` (table + plot inline)
    into ``out``.

    :param data: a path or an in-memory dataset, as for :func:`rbic_fast.refine`.
    :param strategies: names (``"rbic,random,kcenter"`` or a list): ``rbic`` and
        :func:`rbic_fast.strategies.names`.
    :param ratio: share of records. :param count: records. :param token_budget: share of tokens (exactly one).
    :param out: output folder (with the stage cache), or None (nothing written).
    :param config: a :class:`rbic_fast.pipeline.RefineConfig` (the budget and ``settings`` override it).
    :param progress: None/False, True (tqdm bars) or a ``(done, total)`` callable.
    :param quiet: no stage log on stderr. :param use_cache: reuse and write ``OUT/cache``.
    :param max_eval_rows: see :func:`selection_metrics`.
    :param settings: any other :class:`rbic_fast.pipeline.RefineConfig` field (``lm_model=``, ``embeddings=``, ...).
    :return: a :class:`Comparison`.
    """
    from .pipeline import make_config, prepare_stages, select_stage
    from .strategy_select import check_strategy_settings, strategy_input

    names = _strategy_list(strategies)
    cfg = make_config(config, ratio, count, token_budget, {**settings, "strategy": "rbic"})
    for name in names:  # every strategy's needs (LM folder, validation file) before anything heavy
        check_strategy_settings(replace(cfg, strategy=name))
    st = prepare_stages(data, cfg, out, progress=progress, quiet=quiet, use_cache=use_cache)
    selections: dict[str, tuple[np.ndarray, float]] = {}
    for name in names:
        t0 = time.perf_counter()
        sel = select_stage(st, replace(cfg, strategy=name), progress=progress)
        own = st.timings["contribution"] if name == "rbic" else 0.0
        selections[name] = (sel.keep, time.perf_counter() - t0 + own)
    rows = tuple(compare_selections(strategy_input(st), selections, max_eval_rows=max_eval_rows, seed=cfg.seed))
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        write_comparison(rows, out_dir, f"`{st.source.name}`: {len(st.loaded)} records, budget "
                         f"{cfg.budget().describe()}, seed {cfg.seed}.")
    return Comparison(rows=rows, keep={k: v[0] for k, v in selections.items()}, out=out_dir)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return "-" if not np.isfinite(v) else f"{v:.4g}"
    return str(v)


def write_comparison(rows: Sequence[SelectionMetrics], out_dir: str | os.PathLike, note: str = "") -> None:
    """Write ``compare.csv``, ``compare.md``, and (with matplotlib) ``compare.png`` + ``compare.html`` with the
    plot inline (without matplotlib the HTML holds the table only).

    :param rows: the comparison rows. :param out_dir: the folder. :param note: a line under the heading.
    """
    from .io import write_text_atomic
    from .report import render_html, render_markdown

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    header = [f.name for f in fields(SelectionMetrics)]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([getattr(r, h) for h in header] for r in rows)
    write_text_atomic(out_dir / "compare.csv", buf.getvalue())
    blocks: list[tuple] = [("h", "Strategy comparison")]
    if note:
        blocks.append(("p", note))
    blocks.append(("table", header, [[_cell(getattr(r, h)) for h in header] for r in rows]))
    write_text_atomic(out_dir / "compare.md", render_markdown(blocks))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        blocks.append(("p", "(install matplotlib for the plot: pip install \".[compare]\")"))
    else:
        import matplotlib.pyplot as plt

        fig = plot_comparison(rows, str(out_dir / "compare.png"))
        svg = io.StringIO()
        fig.savefig(svg, format="svg")
        plt.close(fig)
        text = svg.getvalue()
        blocks.append(("svg", text[text.index("<svg"):]))
    write_text_atomic(out_dir / "compare.html", render_html(blocks, title="Strategy comparison"))
