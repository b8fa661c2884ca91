"""Score table and the refine report (Markdown + self-contained HTML with inline SVG charts)."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from .accuracy import TIER_NAMES
from .select import REASONS

Block = tuple  # ("h", text) | ("p", text) | ("table", headers, rows) | ("svg", markup)


def scores_table(loaded: Any, graph: Any, accr: Any, lc: np.ndarray, ic: np.ndarray, sel: Any) -> Any:
    """One row per scored record: id, domain, centrality, accuracy and its source, tier, every feature, LC,
    contribution, kept, reason code and rank (a pyarrow Table)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from .pipeline import ACCURACY_SOURCES

    ids = _strings(loaded.ids)
    dup = np.asarray(sel.duplicate_of)
    hint = _strings(loaded.domain_hint)
    cols: dict[str, Any] = {
        "id": ids,
        "row": pa.array(loaded.positions, pa.int64()),
        "domain": pa.array(graph.membership.astype(np.int32)),
        "domain_hint": pc.if_else(pc.equal(hint, ""), pa.scalar(None, pa.string()), hint),
        "lang": pa.array(np.asarray(loaded.lang), pa.string()),
        "tokens": pa.array(loaded.tokens),
        "centrality": pa.array(graph.centrality.astype(np.float32)),
        "accuracy": pa.array(accr.accuracy.astype(np.float32)),
        "accuracy_source": pa.array(ACCURACY_SOURCES, pa.string()).take(pa.array(accr.source.astype(np.int64))),
        "tier": pa.array(accr.tier.astype(np.int8)),
        "difficulty": pa.array(accr.difficulty.astype(np.float32)),
        # dataset-provided signals (null when the format has none)
        "quality_score": pa.array(loaded.quality_score.astype(np.float32), mask=np.isnan(loaded.quality_score)),
        "level": pa.array(loaded.level.astype(np.float32), mask=np.isnan(loaded.level)),
        "answer_verified": pa.array(loaded.answer_verified == 1, mask=loaded.answer_verified < 0),
    }
    for name, arr in loaded.features.items():
        cols[name] = pa.array(np.asarray(arr))
    cols.update(
        {
            "logical_complexity": pa.array(np.asarray(lc, np.float32)),
            "contribution": pa.array(np.asarray(ic, np.float32)),
            "is_duplicate": pa.array(dup >= 0),
            "duplicate_of": ids.take(pa.array(np.where(dup >= 0, dup, 0), mask=dup < 0)),
            "kept": pa.array(sel.keep),
            "reason": pa.array(REASONS, pa.string()).take(pa.array(np.asarray(sel.reason, np.int64))),
            "rank": pa.array(sel.rank),
        }
    )
    return pa.table(cols)


def _strings(col: Any) -> Any:
    """A pyarrow ``string`` array of a text column (a :class:`~rbic_fast.columns.TextColumn` or a list)."""
    import pyarrow as pa

    arr = col.to_arrow() if hasattr(col, "to_arrow") else pa.array(list(col), pa.large_string())
    return arr.cast(pa.string())


def _svg_bars(
    series: dict[str, np.ndarray], labels: list[str], title: str, width: int = 560, height: int = 200
) -> str:
    """Grouped bar chart as inline SVG (no plotting library needed)."""
    colors = ["#8fa8c8", "#d9822b", "#5b9e6e"]
    n_groups = len(labels)
    n_series = len(series)
    top = max(1.0, max(float(np.max(v)) if len(v) else 0.0 for v in series.values()))
    pad_l, pad_b, pad_t = 40, 30, 24
    plot_w, plot_h = width - pad_l - 10, height - pad_b - pad_t
    gw = plot_w / max(1, n_groups)
    bw = gw * 0.8 / max(1, n_series)
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
            f'font-size="10"><text x="{width / 2}" y="14" text-anchor="middle" font-size="12">{html.escape(title)}</text>'
        )
    ]
    for s, (name, vals) in enumerate(series.items()):
        for g, v in enumerate(vals):
            h = plot_h * float(v) / top
            x = pad_l + g * gw + gw * 0.1 + s * bw
            parts.append(
                f'<rect x="{x:.1f}" y="{pad_t + plot_h - h:.1f}" width="{bw:.1f}" height="{h:.1f}" '
                f'fill="{colors[s % 3]}"><title>{html.escape(name)} {html.escape(labels[g])}: {v:g}</title></rect>'
            )
        parts.append(
            f'<rect x="{width - 120}" y="{pad_t + 12 * s}" width="8" height="8" fill="{colors[s % 3]}"/>'
            f'<text x="{width - 108}" y="{pad_t + 8 + 12 * s}">{html.escape(name)}</text>'
        )
    step = max(1, n_groups // 10)
    for g in range(0, n_groups, step):
        parts.append(
            f'<text x="{pad_l + g * gw + gw / 2:.1f}" y="{height - pad_b + 14}" text-anchor="middle">'
            f"{html.escape(labels[g])}</text>"
        )
    parts.append(
        f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{width - 10}" y2="{pad_t + plot_h}" stroke="#444"/>'
    )
    parts.append(
        f'<text x="{pad_l - 4}" y="{pad_t + 8}" text-anchor="end">{top:g}</text>'
        f'<text x="{pad_l - 4}" y="{pad_t + plot_h}" text-anchor="end">0</text></svg>'
    )
    return "".join(parts)


def _short(text: str, n: int = 110) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def report_blocks(
    summary: dict, loaded: Any, graph: Any, accr: Any, ic: np.ndarray, sel: Any, max_domains: int = 25
) -> list[Block]:
    """The report's content as blocks, rendered by :func:`render_markdown` and :func:`render_html`."""
    keep = sel.keep
    dom = graph.membership
    n_dom = int(dom.max()) + 1
    blocks: list[Block] = [
        ("h", "RBIC refinement report"),
        (
            "p",
            (
                f"Input `{summary['input']}` (format `{summary['format']}`): {summary['records']} records"
                + (
                    f", {summary['bad_records_skipped']} bad records skipped"
                    if summary["bad_records_skipped"]
                    else ""
                )
                + f". Strategy `{summary.get('strategy', 'rbic')}`, budget {summary['budget']}: kept {summary['kept']} records ({summary['kept_share']:.1%}) holding "
                f"{summary['tokens_kept']} of {summary['tokens_total']} tokens ({summary['token_share_kept']:.1%}). "
                f"Languages: {', '.join(f'{k} {v}' for k, v in summary['languages'].items())}. RBIC-style (reconstructed) "
                "method: see DESIGN §1."
            ),
        ),
    ]

    blocks.append(("h2", "Domains"))
    blocks.append(
        (
            "p",
            (
                f"{n_dom} knowledge domains (Leiden communities of the {_knn_words(summary)}, modularity "
                f"{summary['modularity']:.3f}); the representative question is the most central record."
            ),
        )
    )
    sizes = np.bincount(dom, minlength=n_dom)
    kept_d = np.bincount(dom[keep], minlength=n_dom)
    top = np.argsort(-sizes, kind="stable")[:max_domains]
    # representative = most central member (first on ties); top hint = most frequent non-empty hint (first seen
    # on ties), all from one sort of the records by domain
    by_dom = np.lexsort((np.arange(dom.size), -np.asarray(graph.centrality, np.float64), dom))
    first_of = np.searchsorted(dom[by_dom], np.arange(n_dom))
    import pyarrow.compute as pc

    enc = pc.dictionary_encode(_strings(loaded.domain_hint)) if len(dom) else None
    codes = np.asarray(enc.indices, np.int64) if enc is not None else np.zeros(0, np.int64)
    names = enc.dictionary.to_pylist() if enc is not None else []
    rows = []
    for d in top:
        rep = int(by_dom[first_of[d]])
        members = np.flatnonzero(dom == d)
        c = codes[members]
        c = c[np.asarray(names, dtype=object)[c] != ""] if names else c
        hint = ""
        if c.size:
            counts = np.bincount(c, minlength=len(names))
            best = np.flatnonzero(counts == counts.max())
            hint = names[int(best[np.argmin([np.flatnonzero(c == b)[0] for b in best])])]
        rows.append([int(d), int(sizes[d]), int(kept_d[d]), hint, _short(loaded.question[rep])])
    blocks.append(("table", ["domain", "records", "kept", "top hint", "representative question"], rows))
    if n_dom > max_domains:
        blocks.append(("p", f"({n_dom - max_domains} smaller domains not listed; see scores.parquet.)"))

    blocks.append(("h2", "Difficulty tiers"))
    src = summary["accuracy_sources"]
    blocks.append(
        (
            "p",
            "Accuracy sources: "
            + ", ".join(f"{k} {v}" for k, v in src.items())
            + (f" (model: `{summary['accuracy_model']}`)" if summary.get("accuracy_model") else "")
            + ". `proxy` = rank of the trace length within the domain (no model was given); `propagated` = "
            "graph propagation from measured records.",
        )
    )
    t_all = np.bincount(accr.tier, minlength=5)
    t_kept = np.bincount(accr.tier[keep], minlength=5)
    blocks.append(
        (
            "table",
            ["tier", "records", "kept", "mean accuracy"],
            [
                [
                    TIER_NAMES[t],
                    int(t_all[t]),
                    int(t_kept[t]),
                    f"{accr.accuracy[accr.tier == t].mean():.3f}" if t_all[t] else "-",
                ]
                for t in range(5)
            ],
        )
    )
    blocks.append(
        (
            "svg",
            _svg_bars({"all": t_all, "kept": t_kept}, [n.split()[0] for n in TIER_NAMES], "records per tier"),
        )
    )

    blocks.append(("h2", "Inference contribution"))
    edges = np.linspace(0.0, 1.0, 21)
    h_all = np.histogram(ic, bins=edges)[0]
    h_kept = np.histogram(ic[keep], bins=edges)[0]
    blocks.append(
        (
            "p",
            (
                f"Mean contribution {summary['contribution_mean_all']:.3f} over all records, "
                f"{summary['contribution_mean_kept']:.3f} over kept ones."
            ),
        )
    )
    blocks.append(
        (
            "svg",
            _svg_bars(
                {"all": h_all, "kept": h_kept}, [f"{e:.2f}" for e in edges[:-1]], "contribution histogram"
            ),
        )
    )

    blocks.append(("h2", "Coverage: domain × tier"))
    cell = dom.astype(np.int64) * 5 + accr.tier
    cells_all = np.unique(cell)
    cells_kept = np.unique(cell[keep])
    blocks.append(
        (
            "p",
            (
                f"{cells_kept.size} of {cells_all.size} non-empty domain × tier cells keep at least one "
                "record. Cells show kept / total."
            ),
        )
    )
    cell_tot = np.bincount(cell, minlength=n_dom * 5)
    cell_kept = np.bincount(cell[keep], minlength=n_dom * 5)
    rows = []
    for d in top:
        row: list[Any] = [int(d)]
        for t in range(5):
            tot = int(cell_tot[d * 5 + t])
            row.append(f"{int(cell_kept[d * 5 + t])}/{tot}" if tot else "")
        rows.append(row)
    blocks.append(("table", ["domain"] + [n.split()[0] for n in TIER_NAMES], rows))

    blocks.append(("h2", "Selection reasons"))
    blocks.append(("table", ["reason", "records"], [[r, summary["reasons"][r]] for r in REASONS]))
    blocks.append(
        (
            "p",
            (
                f"Token share kept: {summary['token_share_kept']:.1%} "
                f"({summary['tokens_kept']} / {summary['tokens_total']} tokens)."
            ),
        )
    )

    blocks.append(("h2", "Settings and timings"))
    blocks.append(("table", ["stage", "seconds"], [[k, f"{v:.2f}"] for k, v in summary["timings_s"].items()]))
    if summary["cached_stages"]:
        blocks.append(("p", "Stages reused from the cache: " + ", ".join(summary["cached_stages"]) + "."))
    blocks.append(("table", ["setting", "value"], [[k, str(v)] for k, v in summary["settings"].items()]))
    return blocks


def _md_cell(v: Any) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: list[Block]) -> str:
    out = []
    for b in blocks:
        if b[0] == "h":
            out.append(f"# {b[1]}\n")
        elif b[0] == "h2":
            out.append(f"## {b[1]}\n")
        elif b[0] == "p":
            out.append(f"{b[1]}\n")
        elif b[0] == "table":
            out.append("| " + " | ".join(map(_md_cell, b[1])) + " |")
            out.append("|" + "---|" * len(b[1]))
            out.extend("| " + " | ".join(map(_md_cell, r)) + " |" for r in b[2])
            out.append("")
    return "\n".join(out)


def render_html(blocks: list[Block], title: str = "RBIC refinement report") -> str:
    body = []
    for b in blocks:
        if b[0] in ("h", "h2"):
            body.append(f"<h{1 if b[0] == 'h' else 2}>{html.escape(b[1])}</h{1 if b[0] == 'h' else 2}>")
        elif b[0] == "p":
            body.append(f"<p>{html.escape(b[1])}</p>")
        elif b[0] == "table":
            head = "".join(f"<th>{html.escape(str(h))}</th>" for h in b[1])
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in b[2]
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif b[0] == "svg":
            body.append(f"<figure>{b[1]}</figure>")
    style = (
        "body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}th{background:#f0f0f0}"
    )
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def build_report(
    summary: dict, loaded: Any, graph: Any, accr: Any, ic: np.ndarray, sel: Any
) -> tuple[str, str]:
    """``(markdown, html)`` of the refine report."""
    blocks = report_blocks(summary, loaded, graph, accr, ic, sel)
    return render_markdown(blocks), render_html(blocks)


def _knn_words(summary: dict) -> str:
    """"exact kNN graph" or "approximate kNN graph (estimated recall@k 0.97)"."""
    knn = summary.get("knn_graph") or {}
    if knn.get("method") != "approx":
        return "exact kNN graph"
    recall = knn.get("recall_estimate")
    return "approximate kNN graph" + (f" (estimated recall@k {recall:.3f})" if recall is not None else "")
