"""Selection by a named strategy (``rbic refine --strategy NAME``) on the pipeline's cached stages.

The strategies of :mod:`rbic_fast.strategies` see the stage arrays as one :class:`StrategyInput`: ids, questions,
token counts, L2-normalised embeddings, Leiden domains, measured (or propagated) accuracy (NaN where only the
length proxy is known), tiers and the parsed trace features. The LM-based ones (``perplexity``, ``ifd``,
``influence``) re-read the full reasoning and response texts from the input, and keep what the LM computed in
``OUT/cache``: answer losses (``lm_losses-<key>.npz``), gradient features (``cache/influence/``) and the LM's
graded validation answers (``validation-<key>.npz``). Every strategy's priority order is cut by the same
:func:`rbic_fast.budget.take_budget`; the reason codes are ``kept_strategy``, ``over_budget`` and ``excluded``
(below ``min_score``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import io as rio
from ._progress import ProgressArg
from .accuracy import SOURCE_PROXY, SamplingConfig, check_answers, check_model_path, make_backend
from .cache import pack_strings, stage_key, unpack_strings
from .select import DROP_BUDGET, DROP_EXCLUDED, KEPT_STRATEGY, Selection
from .strategies import StrategyInput, Validation, names, ranked_select

#: strategies that need ``lm_model`` (a local causal LM folder)
LM_STRATEGIES = ("perplexity", "ifd", "influence")


def strategy_names() -> list[str]:
    """Every name ``--strategy`` accepts: ``rbic`` and the registered strategies."""
    return ["rbic", *names()]


def check_strategy_settings(cfg: Any) -> None:
    """Check the strategy settings of a :class:`rbic_fast.pipeline.RefineConfig` before anything heavy runs.

    :raises ValueError: unknown strategy, missing LM or validation set, bad sizes.
    :raises FileNotFoundError: the LM folder or the validation file does not exist.
    """
    known = strategy_names()
    if cfg.strategy not in known:
        raise ValueError(f"unknown strategy {cfg.strategy!r}; choose one of {', '.join(known)}")
    if cfg.strategy in LM_STRATEGIES and cfg.lm_model is None:
        raise ValueError(
            f"strategy {cfg.strategy!r} needs a causal LM: give --lm-model PATH (lm_model=), a local Hugging Face "
            "model folder"
        )
    if cfg.lm_model is not None:
        check_model_path(cfg.lm_model)
    if cfg.strategy == "influence" and cfg.validation is None:
        raise ValueError(
            "strategy 'influence' needs validation examples: give --validation FILE (validation=) with questions "
            "and reference answers (the LM answers them, math-verify grades), or with --validation-field KEY "
            "marking each record's own answer correct or not"
        )
    if cfg.validation_field is not None and cfg.validation is None:
        raise ValueError("--validation-field needs --validation FILE")
    if cfg.validation is not None and not Path(cfg.validation).exists():
        raise FileNotFoundError(f"validation file {cfg.validation} does not exist")
    if cfg.lm_max_length < 2 or cfg.lm_batch_size < 1 or cfg.influence_dim < 1:
        raise ValueError(
            f"need lm_max_length >= 2, lm_batch_size >= 1 and influence_dim >= 1, got {cfg.lm_max_length}, "
            f"{cfg.lm_batch_size}, {cfg.influence_dim}"
        )


# ----------------------------------------------------------------------------------------------------------------
# strategy input
# ----------------------------------------------------------------------------------------------------------------


def full_texts(st: Any, cfg: Any) -> tuple[list[str], list[str]]:
    """Full reasoning and response texts of the loaded records, streamed again from the input (the load stage
    keeps only the first characters of each trace)."""
    loaded = st.loaded
    norm = rio.Normalizer(
        None if loaded.format in ("?", "custom") else loaded.format, rio.parse_field_map(cfg.fields)
    )
    row_of = {int(p): i for i, p in enumerate(loaded.positions.tolist())}
    reasoning, response = [""] * len(loaded), [""] * len(loaded)
    for pos, _loc, raw in rio.iter_raw(st.source, rio.BadRecords()):
        i = row_of.get(pos)
        if i is not None:
            rec = norm(raw, pos)
            reasoning[i], response[i] = rec.reasoning, rec.response
    return reasoning, response


def strategy_input(st: Any, cfg: Any = None, *, full_text: bool = False) -> StrategyInput:
    """The stage arrays as a :class:`StrategyInput`.

    :param st: :class:`rbic_fast.pipeline.Stages`.
    :param cfg: the config (needed with ``full_text``).
    :param full_text: full reasoning and response texts (re-read from the input); otherwise ``reasoning`` holds the
        first 512 characters and ``response`` is empty (enough for every non-LM strategy).
    """
    from .pipeline import ACCURACY_SOURCES

    if st.strategy_input is None:  # built once per run, shared by every strategy
        loaded = st.loaded
        emb = np.asarray(st.emb, dtype=np.float32)
        emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)  # explicit normalised copy
        proxy = st.accr.source == ACCURACY_SOURCES.index(SOURCE_PROXY)
        st.strategy_input = StrategyInput(
            ids=loaded.ids,
            question=loaded.question,
            reasoning=loaded.reasoning_head,
            response=[""] * len(loaded),
            tokens=loaded.tokens,
            embeddings=emb,
            domain=st.graph.membership,
            accuracy=np.where(proxy, np.nan, st.accr.accuracy).astype(np.float32),
            tier=st.accr.tier,
            features=loaded.features,
        )
    if not full_text:
        return st.strategy_input
    reasoning, response = full_texts(st, cfg)
    return replace(st.strategy_input, reasoning=reasoning, response=response)


# ----------------------------------------------------------------------------------------------------------------
# LM-derived features, cached
# ----------------------------------------------------------------------------------------------------------------


def model_key(path: str | Path) -> str:
    """Cache key of a local model folder: its resolved path and every file's name, size and mtime."""
    p = Path(path).resolve()
    files = sorted(
        (f.relative_to(p).as_posix(), f.stat().st_size, f.stat().st_mtime_ns) for f in p.rglob("*") if f.is_file()
    )
    return stage_key("model", path=str(p), files=files)


def lm_losses(st: Any, cfg: Any, *, unconditional: bool, progress: ProgressArg = None) -> Any:
    """CE(A | Q) (and CE(A) with ``unconditional``) of every record under ``cfg.lm_model``, from the cache or
    computed and cached."""
    from .strategies.lm_scores import AnswerLosses, answer_losses, format_pairs, load_lm

    def key(uncond: bool) -> str:
        return stage_key("lm_losses", data=st.data_key, model=model_key(cfg.lm_model),
                         max_length=cfg.lm_max_length, unconditional=uncond)

    hit = st.cache.get("lm_losses", key(True))  # the IFD run also holds what perplexity needs
    if hit is None and not unconditional:
        hit = st.cache.get("lm_losses", key(False))
    if hit is None:
        model, tokenizer = load_lm(str(cfg.lm_model), None, cfg.device)
        prompts, answers = format_pairs(strategy_input(st, cfg, full_text=True))
        res = answer_losses(model, tokenizer, prompts, answers, unconditional=unconditional,
                            max_length=cfg.lm_max_length, batch_size=cfg.lm_batch_size, progress=progress)
        hit = {"conditional": res.conditional, "unconditional": res.unconditional}
        st.cache.put("lm_losses", key(unconditional), hit)
    return AnswerLosses(conditional=hit["conditional"], unconditional=hit["unconditional"])


@dataclass(frozen=True)
class ValidationRecords:
    """The parsed ``--validation`` file.

    :param question: questions. :param reference: reference answers ("" when none).
    :param answer: each record's own answer text (reasoning + response), used with ``validation_field``.
    :param correct: (m,) bool from ``validation_field``, or None (the LM answers and math-verify grades).
    :param key: cache key of the file and field.
    """

    question: list[str]
    reference: list[str]
    answer: list[str]
    correct: np.ndarray | None
    key: str


def load_validation_records(cfg: Any) -> ValidationRecords:
    """Read ``cfg.validation`` (any supported format, detected from its keys).

    :raises DataError: a bad or empty file, a record without the correctness value, or (without
        ``validation_field``) a record without a reference answer.
    """
    from .strategies.lm_scores import ANSWER_TEMPLATE

    source = rio.open_source(cfg.validation)
    norm = rio.Normalizer(None, None, cfg.validation_field)
    bad = rio.BadRecords()
    question, reference, answer, acc = [], [], [], []
    for pos, loc, raw in rio.iter_raw(source, bad):
        try:
            rec = norm(raw, pos)
        except KeyError as exc:
            raise rio.DataError(f"{loc}: validation record lacks the field {exc.args[0]!r}") from None
        except (ValueError, TypeError) as exc:
            raise rio.DataError(f"{loc}: bad validation record: {exc}") from None
        question.append(rec.question)
        reference.append(rec.final_answer or "")
        answer.append(ANSWER_TEMPLATE.format(reasoning=rec.reasoning, response=rec.response)
                      if rec.response else rec.reasoning)
        acc.append(rec.accuracy)
    if bad.count:
        raise rio.DataError(f"bad validation records in {source.name}:\n{bad.message()}")
    if not question:
        raise rio.DataError(f"the validation file {source.name} holds no records")
    correct = None
    if cfg.validation_field is not None:
        missing = np.flatnonzero(np.isnan(np.asarray(acc, dtype=np.float64)))
        if missing.size:
            raise rio.DataError(
                f"validation records at rows {missing[:5].tolist()} of {source.name} have no value in "
                f"{cfg.validation_field!r} (a bool, or a number in [0, 1]: >= 0.5 counts as correct)"
            )
        correct = np.asarray(acc) >= 0.5
    else:
        missing = [i for i, r in enumerate(reference) if not r]
        if missing:
            raise rio.DataError(
                f"validation records at rows {missing[:5]} of {source.name} have no reference answer, so the LM's "
                "answers cannot be graded; give --validation-field KEY instead"
            )
    key = stage_key("validation_input", source=source.fingerprint(), field=cfg.validation_field)
    return ValidationRecords(question, reference, answer, correct, key)


def validation_set(st: Any, cfg: Any) -> Validation:
    """Influence's :class:`Validation`: the records' own answers marked by ``validation_field``, or one greedy
    answer of ``cfg.lm_model`` per question (the pipeline's accuracy backend) graded by math-verify, cached."""
    recs: ValidationRecords = st.validation
    if recs.correct is not None:
        return Validation(question=recs.question, answer=recs.answer, correct=recs.correct)
    key = stage_key("validation", data=recs.key, model=model_key(cfg.lm_model), backend=cfg.accuracy_backend,
                    max_new_tokens=cfg.max_new_tokens, seed=cfg.seed)
    hit = st.cache.get("validation", key)
    if hit is None:
        backend = make_backend(cfg.accuracy_backend, cfg.lm_model, device=cfg.device)
        sampling = SamplingConfig(n=1, temperature=0.0, max_new_tokens=cfg.max_new_tokens, seed=cfg.seed)
        prompts = [backend.prompt(q, rio.detect_lang(q)) for q in recs.question]
        answers = [outs[0] for outs in backend.generate(prompts, sampling)]
        blob, offsets = pack_strings(answers)
        hit = {"blob": blob, "offsets": offsets,
               "correct": check_answers(recs.reference, answers, workers=cfg.verify_workers)}
        st.cache.put("validation", key, hit)
    return Validation(question=recs.question, answer=unpack_strings(hit["blob"], hit["offsets"]),
                      correct=hit["correct"].astype(bool))


# ----------------------------------------------------------------------------------------------------------------
# selection
# ----------------------------------------------------------------------------------------------------------------


def strategy_options(st: Any, cfg: Any, *, progress: ProgressArg = None) -> tuple[StrategyInput, dict]:
    """The input and options of ``cfg.strategy`` (LM features come from the cache when present)."""
    name = cfg.strategy
    if name in ("perplexity", "ifd"):
        losses = lm_losses(st, cfg, unconditional=name == "ifd", progress=progress)
        return strategy_input(st), {"losses": losses}
    if name == "influence":
        root = st.cache.root
        return strategy_input(st, cfg, full_text=True), {
            "model": str(cfg.lm_model),
            "validation": validation_set(st, cfg),
            "dim": cfg.influence_dim,
            "max_length": cfg.lm_max_length,
            "batch_size": cfg.lm_batch_size,
            "device": cfg.device,
            "cache_dir": None if root is None else root / "influence",
            "model_key": model_key(cfg.lm_model),
            "progress": progress,
        }
    if name == "kcenter":
        return strategy_input(st), {"threads": cfg.threads, "progress": progress}
    return strategy_input(st), {}


def selection_of(order: np.ndarray, keep: np.ndarray, valid: np.ndarray | None) -> Selection:
    """A :class:`Selection` of a strategy's cut order: reasons ``kept_strategy`` / ``over_budget`` /
    ``excluded``, ranks = positions in the order (-1 for excluded records)."""
    n = keep.size
    reason = np.where(keep, KEPT_STRATEGY, DROP_BUDGET).astype(np.int8)
    if valid is not None:
        reason[~valid] = DROP_EXCLUDED
    rank = np.full(n, -1, dtype=np.int64)
    rank[order] = np.arange(order.size)
    return Selection(keep=keep, reason=reason, order=order, rank=rank,
                     duplicate_of=np.full(n, -1, dtype=np.int64), quota={})


def strategy_selection(st: Any, cfg: Any, *, progress: ProgressArg = None) -> Selection:
    """The selection of ``cfg.strategy`` (not ``rbic``) at ``cfg.budget()`` on the prepared stages.

    :param st: :class:`rbic_fast.pipeline.Stages`. :param cfg: the config.
    :param progress: progress of the LM passes.
    """
    inp, options = strategy_options(st, cfg, progress=progress)
    order, keep = ranked_select(cfg.strategy, inp, cfg.budget(), seed=cfg.seed, valid=st.valid, **options)
    return selection_of(order, keep, st.valid)


__all__ = [
    "LM_STRATEGIES",
    "ValidationRecords",
    "check_strategy_settings",
    "lm_losses",
    "load_validation_records",
    "strategy_input",
    "strategy_names",
    "strategy_selection",
    "validation_set",
]
