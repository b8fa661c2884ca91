"""End-to-end RBIC refinement (DESIGN §1): raw dataset in, refined subset + score table + report out.

Stages, each cached under ``OUT/cache`` with an explicit key (:mod:`rbic_fast.cache`):

1. ``load``: stream the records in batches, normalise them (:mod:`rbic_fast.io`) and parse every trace with the
   native parser as the batches stream by; the whole input is never held in memory, and the kept text columns are
   packed and memory-mapped (:mod:`rbic_fast.columns`, ``OUT/cache/load-<key>/``);
2. ``embed``: sentence embeddings (:mod:`rbic_fast.embed`), or precomputed ones;
3. ``graph``: kNN graph → Leiden domains → centrality (native kernels);
4. ``accuracy``: measured (model rollouts or a field), propagated over the graph, or the length proxy; tiers;
5. contribution (LC, IC) (:mod:`rbic_fast.contribution`), cheap and never cached;
6. selection: RBIC's (:mod:`rbic_fast.select`) or another strategy's (``strategy=``,
   :mod:`rbic_fast.strategy_select`; its LM features are cached), so re-selecting with another budget or strategy
   reuses stages 1–4. :func:`prepare_stages` + :func:`select_stage` are shared with ``rbic compare``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import io as rio
from ._progress import ProgressArg, make_progress
from ._resources import StageMeter, peak_rss
from .accuracy import (
    SOURCE_MEASURED,
    SOURCE_PROPAGATED,
    SOURCE_PROXY,
    SamplingConfig,
    check_model_path,
    difficulty_from_accuracy,
    make_backend,
    measure_accuracy,
    proxy_accuracy,
    stratified_label_mask,
    tiers_from_accuracy,
)
from .budget import Budget
from .cache import StageCache, stage_key
from .columns import TextColumn, TextColumnWriter
from .contribution import FEATURE_NAMES, ContributionWeights, inference_contribution, logical_complexity
from .select import DEFAULT_TIER_WEIGHTS, REASONS, Selection, select_rbic

ACCURACY_SOURCES = (SOURCE_MEASURED, SOURCE_PROPAGATED, SOURCE_PROXY)
_PARSE_CHUNK = 4096
_EMBED_CHUNK = 16384
_ROLLOUT_CHUNK = 64
_REASONING_HEAD = 512


@dataclass(frozen=True)
class RefineConfig:
    """Every setting of a refine run (CLI flags map 1:1). Validated by :meth:`validate` before heavy work.

    Budget (exactly one): ``ratio`` share of records, ``count`` records, ``token_budget`` share of tokens.
    Input: ``format``, ``fields`` (``question=KEY,...``), ``on_error`` (``fail``|``skip``), ``accuracy_field``.
    Embedding: ``embed_model`` (local folder; None = packaged all-MiniLM-L6-v2), ``embeddings`` (``.npy``),
    ``embed_reasoning_chars`` (append that many reasoning characters to the question), ``embed_batch_size``.
    Graph: ``k``, ``edge_threshold`` (τ_edge), ``resolution``, ``centrality`` (degree|pagerank), ``knn_method``
    (auto|exact|approx: :func:`rbic_fast.knn_graph`'s ``method``), ``knn_recall`` (the approximate graph's target
    recall@k), ``knn_precision`` (fp32|bf16|int8: :func:`rbic_fast.knn_graph`'s ``precision``; int8 gives the
    exact graph's fp32 result, and an approximate graph scored in int8 and re-scored in fp32, faster on CPUs
    with AVX512_VNNI),
    ``min_domain_size`` (smaller communities join their nearest large neighbour's domain).
    Difficulty: ``accuracy_model`` (local folder), ``accuracy_backend`` (transformers|vllm), ``label_fraction``,
    ``min_labels_per_domain``, ``samples``, ``temperature``, ``top_p``, ``max_new_tokens``, ``verify_workers``,
    ``propagation_alpha``, ``propagation_iterations``.
    Contribution: ``alpha``, ``beta``, ``gamma``, ``lc_mode`` (weighted|pca).
    Selection: ``min_score`` (records whose dataset quality score is below it are never kept, DESIGN §1.2),
    ``dup_threshold``, ``quota_lambda``, ``tier_weights``. Misc: ``seed``, ``device``, ``threads``.
    Strategy: ``strategy`` (``rbic`` or a registered name), ``lm_model`` (local causal LM folder for perplexity,
    ifd, influence), ``lm_max_length``, ``lm_batch_size``, ``validation`` (influence's validation set, any supported
    format), ``validation_field`` (its correctness field; without it the LM answers each question and math-verify
    grades the answer), ``influence_dim`` (projection dimension).
    """

    ratio: float | None = None
    count: int | None = None
    token_budget: float | None = None
    format: str | None = None
    fields: str | None = None
    on_error: str = "fail"
    accuracy_field: str | None = None
    embed_model: str | None = None
    embeddings: str | None = None
    embed_reasoning_chars: int = 0
    embed_batch_size: int = 64
    k: int = 16
    edge_threshold: float = 0.5
    resolution: float = 1.0
    centrality: str = "degree"
    min_domain_size: int = 3
    knn_precision: str = "fp32"
    knn_method: str = "auto"
    knn_recall: float = 0.9
    accuracy_model: str | None = None
    accuracy_backend: str = "transformers"
    label_fraction: float | None = None
    min_labels_per_domain: int = 8
    samples: int = 8
    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 4096
    verify_workers: int = 2
    propagation_alpha: float = 0.9
    propagation_iterations: int = 30
    alpha: float = 0.5
    beta: float = 0.3
    gamma: float = 0.2
    lc_mode: str = "weighted"
    min_score: float | None = None
    dup_threshold: float = 0.95
    quota_lambda: float = 0.5
    tier_weights: tuple[float, ...] = DEFAULT_TIER_WEIGHTS
    seed: int = 0
    device: str | None = None
    threads: int | None = None
    strategy: str = "rbic"
    lm_model: str | None = None
    lm_max_length: int = 2048
    lm_batch_size: int = 8
    validation: str | None = None
    validation_field: str | None = None
    influence_dim: int = 8192

    def budget(self) -> Budget:
        return Budget(ratio=self.ratio, count=self.count, token_share=self.token_budget)

    def weights(self) -> ContributionWeights:
        return ContributionWeights(alpha=self.alpha, beta=self.beta, gamma=self.gamma)

    def sampling(self) -> SamplingConfig:
        return SamplingConfig(
            n=self.samples,
            temperature=self.temperature,
            top_p=self.top_p,
            max_new_tokens=self.max_new_tokens,
            seed=self.seed,
        )

    def validate(self) -> None:
        """Check every setting and every path named, before anything heavy starts.

        :raises ValueError: a bad value. :raises FileNotFoundError: a missing model or embeddings file.
        """
        self.budget()
        self.weights()
        if self.on_error not in ("fail", "skip"):
            raise ValueError(f"on_error must be 'fail' or 'skip', got {self.on_error!r}")
        if self.format is not None and self.format != "custom":
            rio.get_format(self.format)
        rio.parse_field_map(self.fields)
        if self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")
        if not (0.0 <= self.edge_threshold < 1.0):
            raise ValueError(
                f"edge_threshold must be in [0, 1) (graph weights are cosines >= 0), "
                f"got {self.edge_threshold}"
            )
        if self.min_domain_size < 1:
            raise ValueError(f"min_domain_size must be >= 1, got {self.min_domain_size}")
        if self.resolution <= 0:
            raise ValueError(f"resolution must be > 0, got {self.resolution}")
        if self.centrality not in ("degree", "pagerank"):
            raise ValueError(f"centrality must be 'degree' or 'pagerank', got {self.centrality!r}")
        if self.knn_precision not in ("fp32", "bf16", "int8"):
            raise ValueError(f"knn_precision must be 'fp32', 'bf16' or 'int8', got {self.knn_precision!r}")
        if self.knn_method not in ("auto", "exact", "approx"):
            raise ValueError(f"knn_method must be 'auto', 'exact' or 'approx', got {self.knn_method!r}")
        if not 0 < self.knn_recall <= 1:
            raise ValueError(f"knn_recall must be in (0, 1], got {self.knn_recall}")
        if self.knn_method == "approx" and self.knn_precision == "bf16":
            raise ValueError("knn_method='approx' scores in fp32 or int8: use knn_precision 'fp32' or 'int8', "
                             "or knn_method='exact'")
        if self.lc_mode not in ("weighted", "pca"):
            raise ValueError(f"lc_mode must be 'weighted' or 'pca', got {self.lc_mode!r}")
        if not (0.0 < self.dup_threshold <= 1.0):
            raise ValueError(f"dup_threshold must be in (0, 1], got {self.dup_threshold}")
        if len(self.tier_weights) != 5 or min(self.tier_weights) < 0:
            raise ValueError(f"tier_weights must be 5 non-negative numbers, got {self.tier_weights}")
        if self.embed_reasoning_chars < 0 or self.embed_batch_size < 1:
            raise ValueError("embed_reasoning_chars must be >= 0 and embed_batch_size >= 1")
        if self.embed_reasoning_chars > _REASONING_HEAD:
            raise ValueError(f"embed_reasoning_chars is at most {_REASONING_HEAD}")
        if self.label_fraction is not None and not (0.0 < self.label_fraction <= 1.0):
            raise ValueError(f"label_fraction must be in (0, 1], got {self.label_fraction}")
        if self.label_fraction is not None and self.accuracy_model is None:
            raise ValueError("label_fraction needs an accuracy model (--accuracy-model PATH)")
        if self.accuracy_model is not None and self.accuracy_field is not None:
            raise ValueError("give either an accuracy model or an accuracy field, not both")
        if self.accuracy_backend not in ("transformers", "vllm"):
            raise ValueError(
                f"accuracy_backend must be 'transformers' or 'vllm', got {self.accuracy_backend!r}"
            )
        self.sampling()
        if self.embeddings is not None and self.embed_model is not None:
            raise ValueError("give either precomputed embeddings or an embedding model, not both")
        if self.embeddings is not None:
            if not Path(self.embeddings).is_file():
                raise FileNotFoundError(f"embeddings file {self.embeddings} does not exist")
        else:
            from .embed import resolve_model_path

            resolve_model_path(self.embed_model)
        if self.accuracy_model is not None:
            check_model_path(self.accuracy_model)
        from .strategy_select import check_strategy_settings

        check_strategy_settings(self)


# ----------------------------------------------------------------------------------------------------------------
# loaded dataset
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class Loaded:
    """Normalised columns of the valid records plus their parsed trace features.

    Text columns are :class:`~rbic_fast.columns.TextColumn` (packed UTF-8, memory-mapped from the stage cache for
    file inputs), so a million records cost a few arrays, not millions of Python strings; ``reasoning_head`` holds
    the first 512 characters of each trace (the whole traces are never kept).
    """

    ids: TextColumn
    question: TextColumn
    reasoning_head: TextColumn
    final_answer: TextColumn  # "" when none
    domain_hint: TextColumn  # "" when none
    lang: np.ndarray  # "en" | "zh" (<U2)
    tokens: np.ndarray
    level: np.ndarray
    quality_score: np.ndarray
    answer_verified: np.ndarray
    accuracy: np.ndarray
    positions: np.ndarray
    features: dict[str, np.ndarray]
    format: str
    n_bad: int = 0
    bad_examples: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    _STR = ("ids", "question", "reasoning_head", "final_answer", "domain_hint")
    _NUM = ("lang", "tokens", "level", "quality_score", "answer_verified", "accuracy", "positions")

    def save(self, folder: Path) -> None:
        """Write every column into ``folder`` as ``.npy`` files (text columns already spilled there are kept)."""
        folder.mkdir(parents=True, exist_ok=True)
        for name in self._STR:
            col = getattr(self, name)
            if not (folder / f"{name}.offsets.npy").exists():
                col.save(folder, name)
        for name in self._NUM:
            np.save(folder / f"{name}.npy", getattr(self, name))
        for name, arr in self.features.items():
            np.save(folder / f"f_{name}.npy", arr)
        meta = {"format": self.format, "n_bad": self.n_bad, "bad": self.bad_examples,
                "features": list(self.features)}
        (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Loaded:
        """The columns written by :meth:`save`, memory-mapped."""
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        kw: dict[str, Any] = {name: TextColumn.load(folder, name) for name in cls._STR}
        kw.update({name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in cls._NUM})
        kw["features"] = {k: np.load(folder / f"f_{k}.npy", mmap_mode="r") for k in meta["features"]}
        return cls(
            format=meta["format"], n_bad=meta["n_bad"], bad_examples=[tuple(x) for x in meta["bad"]], **kw
        )


def lang_and_tokens(
    question: Any, reasoning_head: Any, n_reasoning: np.ndarray, n_response: np.ndarray, stated: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Language and token count of a batch of records, vectorised (pyarrow compute).

    The language is :func:`rbic_fast.io.detect_lang` of the question followed by the first 500 reasoning
    characters; tokens are the dataset's own count where stated (>= 0), else :func:`rbic_fast.io.estimate_tokens`
    of the question, reasoning and response lengths.

    :param question: the questions (list of str or pyarrow string array). :param reasoning_head: the reasoning
        heads (at least 500 characters where the trace is longer). :param n_reasoning: (m,) reasoning lengths in
        code points. :param n_response: (m,) response lengths. :param stated: (m,) stated tokens or -1.
    :return: ``(lang (m,) "<U2", tokens (m,) int64)``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    q = question if isinstance(question, pa.Array) else pa.array(question, pa.large_string())
    h = reasoning_head if isinstance(reasoning_head, pa.Array) else pa.array(reasoning_head, pa.large_string())
    q, h = q.cast(pa.large_string()), h.cast(pa.large_string())
    sep = pa.scalar("", pa.large_string())
    sample = pc.utf8_slice_codeunits(pc.binary_join_element_wise(q, pc.utf8_slice_codeunits(h, 0, 500), sep), 0, 2000)
    zh = _zh_mask(sample)
    per = np.where(zh, 1.5, 4.0)
    n_q = pc.utf8_length(q).to_numpy(zero_copy_only=False)
    est = sum(np.ceil(np.asarray(x, np.float64) / per) for x in (n_q, n_reasoning, n_response)).astype(np.int64)
    stated = np.asarray(stated, np.int64)
    return np.where(zh, "zh", "en").astype("<U2"), np.where(stated >= 0, stated, est)


def _zh_mask(sample: Any) -> np.ndarray:
    """Per string of a pyarrow large_string array: does it count as Chinese for :func:`rbic_fast.io.detect_lang`
    (non-empty, CJK ideographs U+3400–U+9FFF or U+F900–U+FAFF >= 10% of the characters other than U+0020)?

    CJK ideographs are found on the UTF-8 bytes (lead byte E3 with a second byte >= 0x90, E4–E9, or EF with
    A4–AB); the other counts are taken only for the strings that hold some, so English text costs two passes.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(sample)
    _, offs_buf, data_buf = sample.buffers()
    offs = np.frombuffer(offs_buf, dtype=np.int64)[sample.offset : sample.offset + n + 1]
    b = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    b = b[int(offs[0]) : int(offs[-1])]
    offs = offs - offs[0]
    p = np.flatnonzero((b >= 0xE3) & (b <= 0xEF))
    b0, b1 = b[p], b[np.minimum(p + 1, max(b.size - 1, 0))]
    is_cjk = ((b0 == 0xE3) & (b1 >= 0x90)) | ((b0 >= 0xE4) & (b0 <= 0xE9)) | ((b0 == 0xEF) & (b1 >= 0xA4) & (b1 <= 0xAB))
    cjk = np.diff(np.searchsorted(p[is_cjk], offs))
    zh = np.zeros(n, dtype=bool)
    rows = np.flatnonzero(cjk > 0)
    if rows.size:
        sub = sample.take(pa.array(rows))
        nonspace = pc.subtract(pc.utf8_length(sub), pc.count_substring(sub, " ")).to_numpy(zero_copy_only=False)
        zh[rows] = cjk[rows] >= 0.1 * nonspace
    # without CJK: Chinese only when every character is a space (0 >= 0.1 * 0)
    blank = pc.match_substring_regex(sample, "^ +$").to_numpy(zero_copy_only=False)
    return zh | blank


def _batch_features(
    traces: Any, questions: Any, heads: Any, n_response: np.ndarray, stated: np.ndarray, threads: int | None
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Parser features, language and tokens of a batch (runs in the parser thread: native code, numpy and pyarrow
    compute, all with the GIL released)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    feats = _features_of(traces, threads)
    if isinstance(traces, (pa.Array, pa.ChunkedArray)):
        n_reason = pc.utf8_length(traces).to_numpy(zero_copy_only=False)
    else:
        n_reason = np.fromiter((len(t) for t in traces), np.int64, len(traces))
    lang, tokens = lang_and_tokens(questions, heads, n_reason, n_response, stated)
    return feats, lang, tokens


def _features_of(texts: Any, threads: int | None) -> dict[str, np.ndarray]:
    from . import parse_traces

    tf = parse_traces(texts, threads=threads)
    return {name: np.asarray(getattr(tf, name)) for name in FEATURE_NAMES}


def load_dataset(
    source: rio.Source,
    cfg: RefineConfig,
    *,
    progress: ProgressArg = None,
    spill: str | os.PathLike | None = None,
) -> Loaded:
    """Stream, normalise and parse all records of ``source`` (stage 1, the first pass over the input).

    Records arrive in batches (:func:`rbic_fast.io.iter_batches`: pyarrow for JSONL, Parquet and arrow inputs
    whose format passes the reasoning through unchanged or splits it from a ``<think>`` output, record by record
    otherwise); each batch is normalised, its traces go through the native parser, and only ids, positions,
    lengths, features and the short text columns are kept (appended to ``spill`` on disk when given).

    :param source: the input. :param cfg: the config. :param progress: see :func:`refine`.
    :param spill: folder for the text columns (memory-mapped afterwards); None keeps them in memory.
    :raises DataError: bad records (with ``on_error="fail"``; the first 5 are listed with their location), an
        empty dataset, or duplicate ids.
    """
    import pyarrow as pa

    norm = rio.Normalizer(cfg.format, rio.parse_field_map(cfg.fields), cfg.accuracy_field)
    if norm.format is None:  # detect on the first record so that the batch reader knows the reasoning key
        first = next(rio.iter_raw(source, rio.BadRecords()), None)
        if first is not None and isinstance(first[2], dict):
            try:
                norm.format = rio.detect_format(first[2])
            except rio.DataError as exc:
                raise rio.DataError(f"{first[1]}: {exc}") from None
    bad = rio.BadRecords()
    text = {name: TextColumnWriter(spill, name) for name in Loaded._STR}
    num: dict[str, list] = {k: [] for k in ("level", "quality_score", "answer_verified", "accuracy")}
    positions: list[np.ndarray] = []
    feats: list[Any] = []  # futures of (features, lang, tokens), one per batch
    n = 0
    update, close = make_progress(progress, "load+parse")
    # the native parser (GIL released) works on one batch in a thread while this thread reads and normalises the
    # next one; bad records are met and reported in file order by this thread alone
    parser = ThreadPoolExecutor(1, thread_name_prefix="rbic-parse")
    batches = rio.iter_batches(
        source, bad, text_key=norm.reasoning_key, think_key=norm.think_key, head_chars=_REASONING_HEAD
    )
    try:
        for batch in batches:
            if cfg.on_error == "fail" and bad.count >= 5:
                break
            recs, ok = _normalise_batch(batch, norm, bad)
            if not ok:
                continue
            if bad.count and cfg.on_error == "fail":
                continue  # keep scanning for the first few bad records, skip the work
            rows = np.asarray(ok, np.int64)
            questions = pa.array([r.question for r in recs], pa.large_string())
            heads = pa.array([r.reasoning[:_REASONING_HEAD] for r in recs], pa.large_string())
            if batch.texts is not None:
                traces = batch.texts if rows.size == len(batch.texts) else batch.texts.take(pa.array(rows))
            else:
                traces = [r.reasoning for r in recs]
            if len(feats) >= 2:
                feats[-2].result()  # at most two batches of traces wait for the parser
            feats.append(
                parser.submit(
                    _batch_features,
                    traces,
                    questions,
                    heads,
                    np.fromiter((len(r.response) for r in recs), np.int64, len(recs)),
                    np.fromiter((r.tokens for r in recs), np.int64, len(recs)),
                    cfg.threads,
                )
            )
            text["ids"].append([r.id for r in recs])
            text["question"].append(questions)
            text["reasoning_head"].append(heads)
            text["final_answer"].append([r.final_answer or "" for r in recs])
            text["domain_hint"].append([r.domain_hint or "" for r in recs])
            num["level"].append(np.fromiter((r.level for r in recs), np.float32, len(recs)))
            num["quality_score"].append(np.fromiter((r.quality_score for r in recs), np.float32, len(recs)))
            num["answer_verified"].append(np.fromiter((r.answer_verified for r in recs), np.int8, len(recs)))
            num["accuracy"].append(np.fromiter((r.accuracy for r in recs), np.float32, len(recs)))
            positions.append(batch.positions[rows])
            n += len(recs)
            if update:
                update(n, 0)
        done = [f.result() for f in feats]
    except BaseException:
        for w in text.values():
            w.abort()
        raise
    finally:
        batches.close()
        parser.shutdown(wait=True, cancel_futures=True)
        close()
    if (bad.count and cfg.on_error == "fail") or n == 0:
        for w in text.values():
            w.abort()
    if bad.count:
        if cfg.on_error == "fail":
            raise rio.DataError(
                f"bad records in {source.name} (showing the first {min(5, bad.count)}):\n{bad.message()}\n"
                "fix them, or pass --on-error skip to leave them out"
            )
        print(f"rbic: skipped {bad.count} bad record(s):\n{bad.message()}", file=sys.stderr)
    if n == 0:
        raise rio.DataError(f"no usable records in {source.name} (the dataset is empty)")
    cols = {name: w.finish() for name, w in text.items()}
    if norm.has_native_ids:
        _check_unique_ids(cols["ids"], source.name)
    features = {k: np.concatenate([f[0][k] for f in done]) for k in done[0][0]}
    return Loaded(
        **cols,
        lang=np.concatenate([f[1] for f in done]),
        tokens=np.concatenate([f[2] for f in done]),
        level=np.concatenate(num["level"]),
        quality_score=np.concatenate(num["quality_score"]),
        answer_verified=np.concatenate(num["answer_verified"]),
        accuracy=np.concatenate(num["accuracy"]),
        positions=np.concatenate(positions),
        features=features,
        format=norm.format.name if norm.format else "?",
        n_bad=bad.count,
        bad_examples=bad.items[:20],
    )


def _normalise_batch(batch: rio.RawBatch, norm: rio.Normalizer, bad: rio.BadRecords) -> tuple[list, list[int]]:
    """The normalised records of a batch and their row indices in it; bad records go to ``bad``."""
    recs: list[rio.NormRecord] = []
    ok: list[int] = []
    for i, raw in enumerate(batch.records):
        pos = int(batch.positions[i])
        try:
            rec = norm(raw, pos)
        except KeyError as exc:
            fmt = norm.format.name if norm.format else "?"
            bad.add(
                batch.location(i),
                f"missing field {exc.args[0]!r} for format {fmt!r} (use --format / --field to map it)",
            )
            continue
        except (rio.DataError, ValueError, TypeError) as exc:
            if isinstance(exc, rio.DataError) and str(exc).startswith("cannot detect"):
                raise rio.DataError(f"{batch.location(i)}: {exc}") from None
            bad.add(batch.location(i), str(exc))
            continue
        recs.append(rec)
        ok.append(i)
    return recs, ok


def _check_unique_ids(ids: TextColumn, name: str) -> None:
    import pyarrow.compute as pc

    arr = ids.to_arrow()
    if len(arr) < 2:
        return
    srt = arr.take(pc.sort_indices(arr))
    same = pc.equal(srt.slice(1), srt.slice(0, len(srt) - 1))
    if pc.any(same).as_py():
        repeated = pc.unique(srt.slice(1).filter(same))
        dups = repeated.slice(0, 5).to_pylist()
        raise rio.DataError(
            f"duplicate ids in {name}: {dups} ({len(repeated)} ids repeat); "
            "ids must be unique (map another key with --field id=KEY)"
        )


# ----------------------------------------------------------------------------------------------------------------
# result
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefineResult:
    """Outcome of :func:`refine`.

    :ivar scores: one row per record (pandas DataFrame when pandas is installed, else a pyarrow Table).
    :ivar keep: (n,) bool over the scored records.
    :ivar out: the output folder, or None.
    :ivar summary: counts, token shares, settings and timings (also in ``OUT/run.json``).
    """

    scores: Any
    keep: np.ndarray
    out: Path | None
    summary: dict
    _source: rio.Source = field(repr=False)
    _positions: np.ndarray = field(repr=False)
    _extra: dict = field(repr=False)
    _report_md: str = field(repr=False)
    _report_html: str = field(repr=False)

    @property
    def selected(self) -> Any:
        """The kept records with ``rbic_*`` fields: the input's own type for in-memory data, else a list of dicts."""
        if self._source.kind == "memory":
            return rio.select_memory(self._source.obj, self.keep, self._extra, self._positions)
        if self.out is not None:
            path = self.out / rio.selected_name(self._source)
            return [rec for _, _, rec in rio.iter_raw(rio.open_source(path), rio.BadRecords())]
        kept = set(self._positions[self.keep].tolist())
        cols = {k: np.asarray(v)[self.keep] for k, v in self._extra.items()}
        rows = [rec for pos, _, rec in rio.iter_raw(self._source, rio.BadRecords()) if pos in kept]
        return [{**rec, **{k: rio._json_value(v[j]) for k, v in cols.items()}} for j, rec in enumerate(rows)]

    def report(self, format: str = "md") -> str:
        """The report text, ``"md"`` (Markdown) or ``"html"`` (self-contained HTML)."""
        if format not in ("md", "html"):
            raise ValueError(f"format must be 'md' or 'html', got {format!r}")
        return self._report_md if format == "md" else self._report_html


# ----------------------------------------------------------------------------------------------------------------
# stages
# ----------------------------------------------------------------------------------------------------------------


def _log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(f"rbic: {msg}", file=sys.stderr, flush=True)


def _content_hash(loaded: Loaded) -> str:
    h = hashlib.sha256()
    for col in (loaded.ids, loaded.question, loaded.reasoning_head, loaded.final_answer):
        h.update(np.ascontiguousarray(col.offsets).tobytes())
        h.update(np.asarray(col.blob).tobytes())
    h.update(loaded.tokens.tobytes())
    for k in sorted(loaded.features):
        h.update(np.ascontiguousarray(loaded.features[k]).tobytes())
    return h.hexdigest()[:16]


def estimate(n: int, cfg: RefineConfig, dim: int = 384) -> str:
    """A rough memory and time estimate for ``n`` records, printed before the heavy stages."""
    mem = n * dim * 4 + n * cfg.k * 8 * 3 + n * 600
    gpu = _has_cuda() if (cfg.embeddings is None or cfg.accuracy_model) else False
    cores = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    # rates measured on this project's machines (MiniLM on CPU ~20 questions/s per core; exact kNN ~1.5e10 flop/s
    # per core); they are rough, the point is the order of magnitude
    embed_rate = 3000.0 if gpu else 20.0 * cores
    t_embed = 0.0 if cfg.embeddings else 10.0 + n / embed_rate
    from .knn import AUTO_APPROX_MIN_ROWS

    approx = cfg.knn_method == "approx" or (cfg.knn_method == "auto" and n >= AUTO_APPROX_MIN_ROWS)
    # the approximate graph joins each of sqrt(n) lists with 4 lists: ~4 n^1.5 d multiply-adds
    pairs = 4.0 * n**1.5 if approx else n * n / 2.0
    t_graph = 2.0 * pairs * dim / (3e10 * cores) + n / 2e5
    msg = (
        f"{n} records; about {mem / 2**30:.2f} GiB of memory; embedding ~{t_embed:.0f}s "
        f"({'GPU' if gpu else 'CPU'}), {'approximate' if approx else 'exact'} kNN + communities ~{t_graph:.0f}s"
    )
    if cfg.accuracy_model:
        m = n if cfg.label_fraction is None else int(n * cfg.label_fraction)
        msg += f"; accuracy rollouts for ~{m} questions x {cfg.samples} samples (the slowest stage without a GPU)"
    return msg


def _has_cuda() -> bool:
    try:
        import torch  # the embedding / accuracy stages import it anyway
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _embed_stage(
    loaded: Loaded, cfg: RefineConfig, cache: StageCache, data_key: str, progress: ProgressArg
) -> tuple[np.ndarray, str]:
    from .embed import Embedder, embedding_text, load_embeddings, resolve_model_path

    n = len(loaded)
    if cfg.embeddings is not None:
        emb = load_embeddings(cfg.embeddings, n)
        p = Path(cfg.embeddings).resolve()
        return emb, stage_key("embed", file=str(p), size=p.stat().st_size, mtime=p.stat().st_mtime_ns)
    model_path = resolve_model_path(cfg.embed_model)
    key = stage_key("embed", data=data_key, model=str(model_path.resolve()), chars=cfg.embed_reasoning_chars)
    hit = cache.get_npy("embed", key)
    if hit is not None:
        return hit, key
    embedder = Embedder(model_path, device=cfg.device, batch_size=cfg.embed_batch_size)
    parts: list[np.ndarray] = []  # only without a cache
    update, close = make_progress(progress, "embed")
    try:
        # chunks are cached as they finish (a resumed run continues), then gathered into one memory-mapped
        # .npy; sentence-transformers sorts each chunk by length, so padding stays small
        for i, start in enumerate(range(0, n, _EMBED_CHUNK)):
            if cache.root is None or cache.get_part("embed", key, i) is None:
                stop = min(n, start + _EMBED_CHUNK)
                questions = loaded.question.to_arrow(start, stop).to_pylist()
                heads = loaded.reasoning_head.to_arrow(start, stop).to_pylist()
                x = embedder.encode([embedding_text(q, r, cfg.embed_reasoning_chars) for q, r in zip(questions, heads)])
                if cache.root is None:
                    parts.append(x)
                else:
                    cache.put_part("embed", key, i, {"x": x})
            if update:
                update(min(n, start + _EMBED_CHUNK), n)
    finally:
        close()
    if cache.root is None:
        return np.concatenate(parts), key
    return cache.gather_parts("embed", key, "x", n), key


@dataclass
class GraphResult:
    neighbors: np.ndarray
    similarities: np.ndarray
    membership: np.ndarray
    centrality: np.ndarray
    modularity: float
    csr: Any
    knn_method: str = "exact"  # what ran: "exact" or "approx"
    knn_recall: float | None = None  # the approximate graph's estimated recall@k (None: exact)


def merge_small_domains(membership: np.ndarray, neighbors: np.ndarray, min_size: int) -> np.ndarray:
    """Move records of communities smaller than ``min_size`` into the domain of their most similar neighbour
    that lies in a large enough community (isolated records would otherwise each claim a domain × tier cell and
    its guaranteed budget); relabel domains ``0..D-1`` by decreasing size, ties by first member.

    :param membership: (n,) community labels. :param neighbors: (n, k) kNN indices, most similar first (-1: none).
    :param min_size: smallest community kept as a domain of its own.
    """
    membership = np.asarray(membership, dtype=np.int64)
    n = membership.shape[0]
    if n == 0:
        return membership.astype(np.int32)
    out = membership.copy()
    nb_all = np.asarray(neighbors, dtype=np.int64)
    # rounds: a record whose neighbours were all in small communities can follow them once they have moved
    while min_size > 1 and nb_all.size:
        sizes = np.bincount(out, minlength=n)
        small = np.flatnonzero(sizes[out] < min_size)
        if small.size == 0 or not (sizes >= min_size).any():
            break
        nb = nb_all[small]
        ok = (nb >= 0) & (sizes[out[np.where(nb >= 0, nb, 0)]] >= min_size)
        has = ok.any(axis=1)
        if not has.any():
            break
        first = np.argmax(ok, axis=1)
        out[small[has]] = out[nb[has, first[has]]]
    labels, inv = np.unique(out, return_inverse=True)
    new_sizes = np.bincount(inv)
    first_member = np.full(labels.size, n, dtype=np.int64)
    np.minimum.at(first_member, inv, np.arange(n))
    rank = np.empty(labels.size, dtype=np.int64)
    rank[np.lexsort((first_member, -new_sizes))] = np.arange(labels.size)
    return rank[inv].astype(np.int32)


def _graph_stage(
    emb: np.ndarray, cfg: RefineConfig, cache: StageCache, embed_key: str, progress: ProgressArg
) -> tuple[GraphResult, str]:
    import scipy.sparse as sp

    from . import centrality, communities, knn_graph

    n = emb.shape[0]
    k = min(cfg.k, n - 1)
    key = stage_key(
        "graph",
        embed=embed_key,
        k=k,
        tau=cfg.edge_threshold,
        resolution=cfg.resolution,
        seed=cfg.seed,
        centrality=cfg.centrality,
        precision=cfg.knn_precision,
        knn_method=cfg.knn_method,
        knn_recall=cfg.knn_recall,
        min_domain_size=cfg.min_domain_size,
    )
    hit = cache.get("graph", key)
    if hit is not None:
        csr = sp.csr_matrix((hit["csr_data"], hit["csr_indices"], hit["csr_indptr"]), shape=(n, n))
        return GraphResult(
            hit["neighbors"],
            hit["similarities"],
            hit["membership"],
            hit["centrality"],
            float(hit["modularity"]),
            csr,
            "approx" if np.isfinite(hit["knn_recall"]) else "exact",
            float(hit["knn_recall"]) if np.isfinite(hit["knn_recall"]) else None,
        ), key
    if k < 1:
        csr = sp.csr_matrix((n, n), dtype=np.float32)
        g = GraphResult(
            np.zeros((n, 0), np.int32),
            np.zeros((n, 0), np.float32),
            np.zeros(n, np.int32),
            np.ones(n, np.float32),
            0.0,
            csr,
        )
    else:
        x = np.ascontiguousarray(emb, dtype=np.float32)
        knn = knn_graph(
            x, k=k, method=cfg.knn_method, seed=cfg.seed, target_recall=cfg.knn_recall, precision=cfg.knn_precision,
            threads=cfg.threads, progress=progress,
        )
        csr = knn.to_csr(symmetrize="max", min_similarity=cfg.edge_threshold)
        comm = communities(
            csr, resolution=cfg.resolution, seed=cfg.seed, threads=cfg.threads, progress=progress
        )
        membership = merge_small_domains(
            np.asarray(comm.membership), np.asarray(knn.indices), cfg.min_domain_size
        )
        cent = centrality(csr, membership, kind=cfg.centrality, threads=cfg.threads)
        g = GraphResult(
            np.asarray(knn.indices),
            np.asarray(knn.similarities),
            membership,
            np.asarray(cent, np.float32),
            float(comm.modularity),
            csr,
            knn.method,
            knn.recall,
        )
    cache.put(
        "graph",
        key,
        {
            "neighbors": g.neighbors,
            "similarities": g.similarities,
            "membership": g.membership,
            "centrality": g.centrality,
            "modularity": np.float64(g.modularity),
            "knn_recall": np.float64(np.nan if g.knn_recall is None else g.knn_recall),
            "csr_data": g.csr.data,
            "csr_indices": g.csr.indices,
            "csr_indptr": g.csr.indptr,
        },
    )
    return g, key


@dataclass
class AccuracyResult:
    accuracy: np.ndarray  # float32
    source: np.ndarray  # int8 index into ACCURACY_SOURCES
    tier: np.ndarray  # int8
    difficulty: np.ndarray  # float32
    model: str | None


def _propagate(csr: Any, values: np.ndarray, known: np.ndarray, cfg: RefineConfig) -> np.ndarray:
    from . import propagate

    return np.asarray(
        propagate(
            csr,
            np.where(known, values, 0).astype(np.float32),
            known.astype(bool),
            alpha=cfg.propagation_alpha,
            iterations=cfg.propagation_iterations,
            threads=cfg.threads,
        ),
        np.float32,
    )


def _accuracy_stage(
    loaded: Loaded,
    graph: GraphResult,
    cfg: RefineConfig,
    cache: StageCache,
    graph_key: str,
    progress: ProgressArg,
    quiet: bool,
) -> AccuracyResult:
    n = len(loaded)
    domain = graph.membership
    acc = np.full(n, np.nan, dtype=np.float32)
    n_samples = cfg.samples
    model_id = None
    if cfg.accuracy_model is not None:
        eligible = loaded.final_answer.byte_lengths() > 0
        if not eligible.any():
            raise rio.DataError(
                "no record has a reference answer, so accuracy cannot be measured; "
                "drop --accuracy-model (the length proxy is used) or map one with --field answer=KEY"
            )
        label = (
            eligible
            if cfg.label_fraction is None
            else stratified_label_mask(
                domain,
                cfg.label_fraction,
                eligible=eligible,
                min_per_domain=cfg.min_labels_per_domain,
                seed=cfg.seed,
            )
        )
        idx = np.flatnonzero(label)
        model_id = str(Path(cfg.accuracy_model).resolve())
        key = stage_key(
            "rollouts",
            graph=graph_key,
            model=model_id,
            backend=cfg.accuracy_backend,
            sampling=asdict(cfg.sampling()),
            labels=hashlib.sha256(idx.tobytes()).hexdigest(),
        )
        hit = cache.get("rollouts", key)
        if hit is None:
            backend = None
            counts = []
            update, close = make_progress(progress, "rollouts")
            try:
                for i, start in enumerate(range(0, idx.size, _ROLLOUT_CHUNK)):
                    part = cache.get_part("rollouts", key, i)
                    if part is None:
                        if backend is None:
                            backend = make_backend(
                                cfg.accuracy_backend, cfg.accuracy_model, device=cfg.device
                            )
                        sl = idx[start : start + _ROLLOUT_CHUNK]
                        part = {
                            "c": measure_accuracy(
                                backend,
                                loaded.question.take(sl),
                                loaded.final_answer.take(sl),
                                cfg.sampling(),
                                langs=loaded.lang[sl].tolist(),
                                workers=cfg.verify_workers,
                            )
                        }
                        cache.put_part("rollouts", key, i, part)
                    counts.append(part["c"])
                    if update:
                        update(min(idx.size, start + _ROLLOUT_CHUNK), idx.size)
            finally:
                close()
            hit = {"counts": np.concatenate(counts) if counts else np.zeros(0, np.int32)}
            cache.put("rollouts", key, hit)
        acc[idx] = hit["counts"] / float(n_samples)
    elif np.isfinite(loaded.accuracy).any():
        acc = loaded.accuracy.astype(np.float32).copy()
        model_id = f"field:{cfg.accuracy_field}" if cfg.accuracy_field else "dataset labels"
    known = np.isfinite(acc)
    source = np.full(n, ACCURACY_SOURCES.index(SOURCE_PROXY), dtype=np.int8)
    source[known] = ACCURACY_SOURCES.index(SOURCE_MEASURED)
    p_proxy, t_proxy, d_proxy = proxy_accuracy(loaded.tokens, domain)
    if known.any() and not known.all():
        # propagate to records of domains that hold at least one measured record; the proxy covers the rest
        reach = np.isin(domain, np.unique(domain[known])) & ~known
        if reach.any() and graph.csr.nnz:
            prop = _propagate(graph.csr, np.nan_to_num(acc), known, cfg)
            acc[reach] = np.clip(prop[reach], 0.0, 1.0)
            source[reach] = ACCURACY_SOURCES.index(SOURCE_PROPAGATED)
    proxy = source == ACCURACY_SOURCES.index(SOURCE_PROXY)
    tier = np.zeros(n, dtype=np.int8)
    diff = np.zeros(n, dtype=np.float32)
    if (~proxy).any():
        tier[~proxy] = tiers_from_accuracy(acc[~proxy], n_samples)
        diff[~proxy] = difficulty_from_accuracy(acc[~proxy], tier[~proxy], n_samples)
    acc[proxy], tier[proxy], diff[proxy] = p_proxy[proxy], t_proxy[proxy], d_proxy[proxy]
    if proxy.all():
        _log(
            "no accuracy model or field: difficulty is the within-domain length-rank proxy (source=proxy)",
            quiet,
        )
    return AccuracyResult(acc, source, tier, diff, model_id)


# ----------------------------------------------------------------------------------------------------------------
# orchestration
# ----------------------------------------------------------------------------------------------------------------


def make_config(
    config: RefineConfig | None,
    ratio: float | None,
    count: int | None,
    token_budget: float | None,
    settings: dict[str, Any],
) -> RefineConfig:
    """A validated :class:`RefineConfig`: ``config`` (or the defaults), the budget arguments and ``settings``
    (any other :class:`RefineConfig` field) on top.

    :raises TypeError: an unknown setting. :raises ValueError: a bad value (see :meth:`RefineConfig.validate`).
    """
    cfg = config or RefineConfig()
    known = {f.name for f in fields(RefineConfig)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise TypeError(f"unknown setting(s) {unknown}; see RefineConfig")
    budget_given = {
        k: v for k, v in (("ratio", ratio), ("count", count), ("token_budget", token_budget)) if v is not None
    }
    if budget_given:
        cfg = replace(cfg, **{"ratio": None, "count": None, "token_budget": None, **budget_given})
    cfg = replace(cfg, **settings)
    if isinstance(cfg.tier_weights, list):
        cfg = replace(cfg, tier_weights=tuple(cfg.tier_weights))
    cfg.validate()
    return cfg


@dataclass
class Stages:
    """The stage results of one dataset that every strategy shares (``rbic refine``, ``rbic compare``).

    ``lc``/``ic`` are RBIC's logical complexity and inference contribution; ``valid`` is the ``min_score`` filter
    (None: every record may be kept); ``validation`` the parsed ``--validation`` records (or None).
    """

    source: rio.Source
    loaded: Loaded
    emb: np.ndarray
    graph: GraphResult
    accr: AccuracyResult
    lc: np.ndarray
    ic: np.ndarray
    valid: np.ndarray | None
    cache: StageCache
    out_dir: Path | None
    data_key: str
    timings: dict[str, float]
    started: float
    validation: Any = None
    strategy_input: Any = None  # the StrategyInput of the stage arrays, built once (strategy_select.strategy_input)
    meter: StageMeter | None = None  # time and peak memory per stage (``run.json``'s ``stages``)


def prepare_stages(
    data: Any,
    cfg: RefineConfig,
    out: str | os.PathLike | None,
    *,
    progress: ProgressArg = None,
    quiet: bool = True,
    use_cache: bool = True,
) -> Stages:
    """Stages 1–4 (load + parse, embed, graph, accuracy) from ``OUT/cache`` or computed, then RBIC's LC and IC.

    Everything about the input (records, budget size, embeddings file, validation file) is checked before
    ``out`` is touched.

    :param data: a path or an in-memory dataset (see :func:`refine`). :param cfg: a validated config.
    :param out: output folder, or None (no cache). :param progress: see :func:`refine`.
    :param quiet: no stage log. :param use_cache: read and write ``OUT/cache``.
    """
    from .strategy_select import load_validation_records

    source = rio.open_source(data)
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    meter = StageMeter()
    out_dir = Path(out) if out is not None else None
    cache = StageCache(out_dir / "cache" if (out_dir is not None and use_cache) else None)

    # 1. load (+ parse) -- validated completely before OUT is touched
    meter.start("load")
    load_key = None
    loaded = None
    if source.kind != "memory":
        load_key = stage_key(
            "load",
            source=source.fingerprint(),
            format=cfg.format,
            fields=cfg.fields,
            on_error=cfg.on_error,
            accuracy_field=cfg.accuracy_field,
        )
        hit = cache.get_folder("load", load_key)
        if hit is not None:
            loaded = Loaded.load(hit)
    spill = None
    if loaded is None and source.path is not None:
        paths = [source.path] if source.path.is_file() else list(source.path.rglob("*"))
        size = sum(p.stat().st_size for p in paths if p.is_file())
        _log(f"reading {source.name} ({size / 2**20:.1f} MiB, streamed in batches)", quiet)
        # text columns spill next to OUT (not into it: bad input must leave OUT untouched), then move into
        # OUT/cache; without a cache they live in a temporary folder, unlinked once memory-mapped
        parent = out_dir.resolve().parent if out_dir is not None else None
        try:
            if parent is not None:
                parent.mkdir(parents=True, exist_ok=True)
            spill = Path(tempfile.mkdtemp(prefix=".rbic-load-", dir=parent))
        except OSError:  # OUT's parent is not writable: the system's temporary folder (then copied into the cache)
            spill = Path(tempfile.mkdtemp(prefix=".rbic-load-"))
    try:
        if loaded is None:
            loaded = load_dataset(source, cfg, progress=progress, spill=spill)
        n = len(loaded)
        data_key = load_key or _content_hash(loaded)
        cfg.budget().n_samples(n)  # a count larger than the dataset fails here
        if cfg.accuracy_field is not None and not np.isfinite(loaded.accuracy).any():
            raise rio.DataError(
                f"no record has a value in the accuracy field {cfg.accuracy_field!r}; check the key (dotted keys "
                "reach nested fields) or drop --accuracy-field"
            )
        if cfg.embeddings is not None:
            from .embed import load_embeddings

            load_embeddings(cfg.embeddings, n)
        validation = load_validation_records(cfg) if cfg.validation is not None else None
    except BaseException:
        if spill is not None:
            shutil.rmtree(spill, ignore_errors=True)
        raise
    timings["load"] = meter.stop()
    _log(f"loaded {n} records (format {loaded.format}) in {timings['load']:.1f}s", quiet)
    if not quiet:  # the estimate imports torch to look for a GPU
        _log("estimate: " + estimate(n, cfg), quiet)
    if spill is not None:
        if load_key is not None and cache.root is not None:
            loaded.save(spill)
            cache.put_folder("load", load_key, spill)
        else:
            shutil.rmtree(spill, ignore_errors=True)  # the open memory maps keep the data
    if load_key is not None and cache.root is not None:
        save_run_config(out_dir, str(source.path), cfg)

    # 2. embed
    meter.start("embed")
    emb, embed_key = _embed_stage(loaded, cfg, cache, data_key, progress)
    timings["embed"] = meter.stop()
    _log(f"embeddings {emb.shape} in {timings['embed']:.1f}s", quiet)

    # 3. graph
    meter.start("graph")
    graph, graph_key = _graph_stage(emb, cfg, cache, embed_key, progress)
    timings["graph"] = meter.stop()
    _log(
        f"{int(graph.membership.max()) + 1} domains (modularity {graph.modularity:.3f}) in {timings['graph']:.1f}s"
        + (f"; approximate kNN graph, estimated recall@k {graph.knn_recall:.3f}" if graph.knn_recall is not None else ""),
        quiet,
    )

    # 4. accuracy / tiers
    meter.start("accuracy")
    accr = _accuracy_stage(loaded, graph, cfg, cache, graph_key, progress, quiet)
    timings["accuracy"] = meter.stop()

    # 5. contribution (RBIC's score; the report and the comparison's complexity use it for every strategy)
    meter.start("contribution")
    weights = cfg.weights()
    lc = logical_complexity(loaded.features, graph.membership, weights, mode=cfg.lc_mode)
    ic = inference_contribution(lc, accr.difficulty, graph.centrality, weights)
    valid = None
    if cfg.min_score is not None:
        valid = ~(loaded.quality_score < cfg.min_score)  # records without a score pass
        if not valid.any():
            raise rio.DataError(f"no record has a quality score >= {cfg.min_score}; lower --min-score")
    timings["contribution"] = meter.stop()
    meter.close()
    return Stages(source, loaded, emb, graph, accr, lc, ic, valid, cache, out_dir, data_key, timings, t_all,
                  validation, meter=meter)


def select_stage(st: Stages, cfg: RefineConfig, *, progress: ProgressArg = None) -> Selection:
    """Stage 6: the selection of ``cfg.strategy`` at ``cfg.budget()`` on the shared stages.

    :param st: the prepared stages. :param cfg: the config (its ``strategy``, budget and selection settings).
    :param progress: progress of the LM-based strategies.
    """
    if cfg.strategy != "rbic":
        from .strategy_select import strategy_selection

        return strategy_selection(st, cfg, progress=progress)
    return select_rbic(
        st.graph.membership,
        st.accr.tier,
        st.ic,
        st.loaded.tokens,
        cfg.budget(),
        ids=st.loaded.ids,
        valid=st.valid,
        neighbors=st.graph.neighbors,
        similarities=st.graph.similarities,
        dup_threshold=cfg.dup_threshold,
        quota_lambda=cfg.quota_lambda,
        tier_weights=cfg.tier_weights,
    )


def refine(
    data: Any,
    ratio: float | None = None,
    count: int | None = None,
    token_budget: float | None = None,
    *,
    out: str | os.PathLike | None = None,
    config: RefineConfig | None = None,
    progress: ProgressArg = None,
    quiet: bool = True,
    use_cache: bool = True,
    strategy: str | None = None,
    **settings: Any,
) -> RefineResult:
    """Refine a reasoning dataset: keep the records a strategy ranks highest within a budget (RBIC by default).

    :param data: a path (JSONL, JSON, Parquet, CSV, or a ``datasets`` folder) or an in-memory dataset (list of
        dicts, pandas DataFrame, pyarrow Table, ``datasets.Dataset``).
    :param ratio: keep this share of the records. :param count: keep this many records.
    :param token_budget: keep at most this share of the dataset's tokens.
    :param out: output folder (``selected.*``, ``scores.parquet``, ``report.html``, ``report.md``, ``cache/``);
        None keeps everything in memory (no cache).
    :param config: a full :class:`RefineConfig` (the budget arguments and ``settings`` override it).
    :param progress: None/False, True (tqdm bars) or a ``(done, total)`` callable.
    :param quiet: do not print the estimate and stage log to stderr.
    :param use_cache: reuse and write ``OUT/cache`` (False recomputes every stage).
    :param strategy: ``"rbic"`` (default) or a name of :func:`rbic_fast.strategies.names`; the LM-based ones
        need ``lm_model=``, ``influence`` also ``validation=`` (see :class:`RefineConfig`).
    :param settings: any other :class:`RefineConfig` field, e.g. ``accuracy_model=``, ``embeddings=``.
    :return: a :class:`RefineResult`.
    """
    if strategy is not None:
        settings["strategy"] = strategy
    cfg = make_config(config, ratio, count, token_budget, settings)
    st = prepare_stages(data, cfg, out, progress=progress, quiet=quiet, use_cache=use_cache)
    meter = st.meter or StageMeter()
    try:
        return _select_and_write(st, cfg, meter, progress, quiet)
    finally:
        meter.close()


def _select_and_write(
    st: Stages, cfg: RefineConfig, meter: StageMeter, progress: ProgressArg, quiet: bool
) -> RefineResult:
    timings, loaded, out_dir = st.timings, st.loaded, st.out_dir
    meter.start("select")
    sel = select_stage(st, cfg, progress=progress)
    timings["select"] = meter.stop()

    # outputs
    from .report import build_report, scores_table

    scores = scores_table(loaded, st.graph, st.accr, st.lc, st.ic, sel)
    extra = {
        "rbic_domain": st.graph.membership.astype(np.int64),
        "rbic_tier": st.accr.tier.astype(np.int64),
        "rbic_contribution": np.round(st.ic.astype(np.float64), 6),
        "rbic_rank": sel.rank,
    }
    timings["total"] = time.perf_counter() - st.started
    summary = _summary(loaded, st.graph, st.accr, st.ic, sel, cfg, st.source, timings, st.cache)
    report_md, report_html = build_report(summary, loaded, st.graph, st.accr, st.ic, sel)
    if out_dir is not None:
        meter.start("write")
        _write_outputs(out_dir, st.source, loaded, sel, extra, scores, report_md, report_html)
        timings["write"] = meter.stop()
        summary["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    summary["stages"] = meter.table()
    summary["peak_rss_mb"] = round(peak_rss() / 2**20, 1)
    if out_dir is not None:  # last, so that it has the write stage and the peak memory of every stage
        rio.write_text_atomic(out_dir / "run.json", json.dumps(summary, indent=1, default=_json_default))
        _log(f"wrote {out_dir} ({int(sel.keep.sum())} of {len(loaded)} records kept)", quiet)
    return RefineResult(
        scores=_as_frame(scores),
        keep=sel.keep,
        out=out_dir,
        summary=summary,
        _source=st.source,
        _positions=loaded.positions,
        _extra=extra,
        _report_md=report_md,
        _report_html=report_html,
    )


def _as_frame(table: Any) -> Any:
    try:
        import pandas  # noqa: F401
    except ImportError:
        return table
    return table.to_pandas()


def _summary(
    loaded: Loaded,
    graph: GraphResult,
    accr: AccuracyResult,
    ic: np.ndarray,
    sel: Selection,
    cfg: RefineConfig,
    source: rio.Source,
    timings: dict,
    cache: StageCache,
) -> dict:
    n = len(loaded)
    keep = sel.keep
    tok = loaded.tokens
    return {
        "input": source.name,
        "strategy": cfg.strategy,
        "format": loaded.format,
        "records": n,
        "bad_records_skipped": loaded.n_bad,
        "kept": int(keep.sum()),
        "kept_share": float(keep.mean()),
        "tokens_total": int(tok.sum()),
        "tokens_kept": int(tok[keep].sum()),
        "token_share_kept": float(tok[keep].sum() / max(1, tok.sum())),
        "domains": int(graph.membership.max()) + 1,
        "modularity": graph.modularity,
        "knn_graph": {"method": graph.knn_method, "recall_estimate": graph.knn_recall},
        "near_duplicates": int((sel.reason == REASONS.index("near_duplicate")).sum()),
        "accuracy_sources": {s: int((accr.source == i).sum()) for i, s in enumerate(ACCURACY_SOURCES)},
        "accuracy_model": accr.model,
        "languages": {str(lang): int(c) for lang, c in zip(*np.unique(loaded.lang, return_counts=True))},
        "budget": cfg.budget().describe(),
        "settings": {k: v for k, v in asdict(cfg).items() if v is not None},
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "cached_stages": sorted(set(cache.hits)),
        "reasons": {r: int((sel.reason == i).sum()) for i, r in enumerate(REASONS)},
        "contribution_mean_all": float(ic.mean()),
        "contribution_mean_kept": float(ic[keep].mean()),
    }


def _write_outputs(
    out_dir: Path,
    source: rio.Source,
    loaded: Loaded,
    sel: Selection,
    extra: dict,
    scores: Any,
    report_md: str,
    report_html: str,
) -> None:
    import pyarrow.parquet as pq

    out_dir.mkdir(parents=True, exist_ok=True)
    if source.kind == "memory":
        selected = rio.select_memory(source.obj, sel.keep, extra, loaded.positions)
        with rio.atomic_path(out_dir / "selected.jsonl") as tmp, open(tmp, "w", encoding="utf-8") as fh:
            fh.writelines(
                json.dumps(rec, ensure_ascii=False, default=_json_default) + "\n"
                for rec in _records_of(selected)
            )
    else:
        rio.write_selected(source, out_dir / rio.selected_name(source), sel.keep, extra, loaded.positions)
    with rio.atomic_path(out_dir / "scores.parquet") as tmp:
        pq.write_table(scores, tmp)
    rio.write_text_atomic(out_dir / "report.md", report_md)
    rio.write_text_atomic(out_dir / "report.html", report_html)


def _records_of(selected: Any) -> list[dict]:
    if isinstance(selected, list):
        return selected
    mod = type(selected).__module__.split(".")[0]
    if mod == "pandas":
        return selected.to_dict(orient="records")
    if mod == "pyarrow":
        return selected.to_pylist()
    return [dict(r) for r in selected]


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def load_run_config(out: str | os.PathLike) -> tuple[str, RefineConfig]:
    """The input and settings of the run stored in ``OUT/run.json`` (or ``OUT/cache/config.json``), for resume."""
    out = Path(out)
    for f in (out / "cache" / "config.json", out / "run.json"):
        if f.exists():
            meta = json.loads(f.read_text(encoding="utf-8"))
            settings = meta["settings"]
            if "tier_weights" in settings:
                settings["tier_weights"] = tuple(settings["tier_weights"])
            return meta["input"], RefineConfig(**settings)
    raise FileNotFoundError(f"{out} holds no previous run to resume (no run.json or cache/config.json)")


def save_run_config(out: str | os.PathLike, data: str, cfg: RefineConfig) -> None:
    """Record the input and settings in ``OUT/cache/config.json`` so that ``--resume`` can rerun them."""
    payload = {"input": str(data), "settings": {k: v for k, v in asdict(cfg).items() if v is not None}}
    rio.write_text_atomic(
        Path(out) / "cache" / "config.json", json.dumps(payload, indent=1, default=_json_default)
    )


__all__ = [
    "RefineConfig",
    "RefineResult",
    "Stages",
    "estimate",
    "load_dataset",
    "load_run_config",
    "make_config",
    "prepare_stages",
    "refine",
    "save_run_config",
    "select_stage",
]
