"""Dataset sources, record-format detection and normalisation, streaming reads and atomic writers.

A source is a file (JSONL, JSON array, Parquet, CSV), a Hugging Face ``datasets`` folder saved with
``save_to_disk``, or an in-memory object (list of dicts, pandas DataFrame, pyarrow Table, ``datasets.Dataset``).
Files are read record by record (Parquet and ``datasets`` by batch), so a large input never has to fit in memory;
only a JSON *array* file is parsed whole (convert it to JSONL first when it is large).

Every raw record is normalised to :class:`NormRecord` (DESIGN §5.1) by a format adapter chosen from its key set
(:func:`detect_format`) or named explicitly; ``fields=`` maps the normalised fields to arbitrary (dotted) keys.
Bad records (malformed JSON, non-UTF-8 bytes, missing or empty fields) are reported with their ``file:line``.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .steps import _arrow_buffers


class DataError(ValueError):
    """The input data cannot be used as given (bad records, wrong format, empty dataset, ...)."""


# ----------------------------------------------------------------------------------------------------------------
# normalised record
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class NormRecord:
    """One record in the normalised schema of DESIGN §5.1 (the raw record is re-read at write time)."""

    id: str
    question: str
    reasoning: str
    response: str
    final_answer: str | None = None
    domain_hint: str | None = None
    level: float = math.nan
    quality_score: float = math.nan
    answer_verified: int = -1  # 1 / 0 / -1 unknown
    tokens: int = -1  # training tokens of the sample when the dataset states them, else -1 (estimated later)
    accuracy: float = (
        math.nan
    )  # a precomputed accuracy (accuracy_field) or the dataset's own correctness labels


NORM_FIELDS = ("question", "reasoning", "response", "answer", "domain", "id", "level", "score", "tokens")

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_CALC = re.compile(r"<<[^<>]*>>")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (or ``\\fbox``) in ``text`` with balanced braces, or None."""
    starts = [m.end() for m in _BOXED.finditer(text or "")]
    for start in reversed(starts):
        depth, i = 1, start
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            return text[start : i - 1].strip()
    return None


def split_think(text: str) -> tuple[str, str] | None:
    """Split an R1-style ``<think>reasoning</think>answer`` output; None when there is no ``</think>``."""
    if text is None or "</think>" not in text:
        return None
    head, _, tail = text.partition("</think>")
    head = head.strip()
    head = head.removeprefix("<think>")
    return head.strip(), tail.strip()


@dataclass(frozen=True)
class ThinkParts:
    """A ``<think>`` output that a batch reader has already split column-wise (:func:`split_think_column`):
    :func:`split_think`'s reasoning cut to its first characters, and its whole response."""

    reasoning_head: str
    response: str


def _split_output(value: Any) -> tuple[str, str] | None:
    """:func:`split_think` of a raw ``<think>`` output value, or the parts a batch reader split already."""
    if isinstance(value, ThinkParts):
        return value.reasoning_head, value.response
    return split_think(_s(value))


def detect_lang(text: str) -> str:
    """``"zh"`` when at least 10% of the first 2000 non-space characters are CJK ideographs, else ``"en"``.

    The bar is low because Chinese math text is full of digits and formulas; English text has no CJK at all.
    """
    sample = (text or "")[:2000]
    if not sample:
        return "en"
    return "zh" if len(_CJK.findall(sample)) >= 0.1 * len(sample.replace(" ", "")) else "en"


def estimate_tokens(text: str, lang: str) -> int:
    """Token estimate when the dataset gives none (DESIGN §7.3): chars/1.5 for Chinese, chars/4 otherwise."""
    n = len(text or "")
    return math.ceil(n / (1.5 if lang == "zh" else 4.0))


def _s(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, (list, tuple)):
        return "\n".join(_s(v) for v in value)
    return value if isinstance(value, str) else str(value)


def _opt(value: Any) -> str | None:
    text = _s(value).strip()
    return text or None


def _num(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        m = re.search(r"-?\d+(?:\.\d+)?", _s(value))
        return float(m.group()) if m else math.nan
    return out


def _options_block(options: Any) -> str:
    if not isinstance(options, (list, tuple)) or not options:
        return ""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    lines = []
    for i, opt in enumerate(options):
        text = _s(opt)
        lines.append(text if re.match(r"^\s*[A-Z]\s*[).:]", text) else f"{letters[i % 26]}) {text}")
    return "\n".join(lines)


def _with_options(question: Any, options: Any) -> str:
    block = _options_block(options)
    return _s(question).strip() + ("\n" + block if block else "")


# ----------------------------------------------------------------------------------------------------------------
# format adapters: raw dict -> dict of NormRecord fields (without id)
# ----------------------------------------------------------------------------------------------------------------


def _gsm8k(r: dict) -> dict:
    ans = _s(r["answer"])
    body, sep, final = ans.rpartition("####")
    reasoning = _CALC.sub("", body if sep else ans).strip()
    final = final.strip().replace(",", "") if sep else None
    return {
        "question": _s(r["question"]),
        "reasoning": reasoning,
        "response": final or "",
        "final_answer": final,
    }


def _gsm8k_model_solutions(r: dict) -> dict:
    gt = _s(r["ground_truth"])
    body, sep, final = gt.rpartition("A:")
    labels = [v["is_correct"] for v in r.values() if isinstance(v, dict) and "is_correct" in v]
    return {
        "question": _s(r["question"]),
        "reasoning": _CALC.sub("", body if sep else gt).strip(),
        "response": final.strip() if sep else "",
        "final_answer": (final.strip().replace(",", "") or None) if sep else None,
        "accuracy": float(np.mean(labels)) if labels else math.nan,
    }


def _math(r: dict) -> dict:
    sol = _s(r["solution"])
    final = _opt(r.get("answer")) or last_boxed(sol)
    return {
        "question": _s(r["problem"]),
        "reasoning": sol,
        "response": final or "",
        "final_answer": final,
        "domain_hint": _opt(r.get("subject") or r.get("type")),
        "level": _num(r.get("level")),
    }


def _limo(r: dict) -> dict:
    sol = _s(r["solution"])
    final = _opt(r.get("answer")) or last_boxed(sol)
    return {"question": _s(r["question"]), "reasoning": sol, "response": final or "", "final_answer": final}


def _aqua(r: dict) -> dict:
    rationale = _s(r["rationale"])
    return {
        "question": _with_options(r["question"], r.get("options")),
        "reasoning": rationale,
        "response": _s(r.get("correct")),
        "final_answer": _opt(r.get("correct")),
    }


def _s1k(r: dict) -> dict:
    attempt = _s(r.get("attempt"))
    return {
        "question": _s(r["question"]),
        "reasoning": _s(r["thinking_trajectories"]),
        "response": attempt,
        "final_answer": _opt(r.get("solution"))
        and (last_boxed(_s(r.get("solution"))) or _opt(r.get("solution"))),
        "domain_hint": _opt(r.get("cot_type") or r.get("source_type")),
    }


def _s1k_11(r: dict) -> dict:
    out = _s1k(
        {
            **r,
            "thinking_trajectories": r["deepseek_thinking_trajectory"],
            "attempt": r.get("deepseek_attempt"),
        }
    )
    grade = _s(r.get("deepseek_grade")).strip().lower()
    out["answer_verified"] = 1 if grade == "yes" else 0 if grade == "no" else -1
    return out


_REPO_DOMAIN = (
    ("advanced-math", "math"),
    ("applied_math", "math"),
    ("gsm8k", "math"),
    ("educhat-math", "math"),
    ("stem_zh", "stem"),
    ("coig", "general"),
    ("neo_sft", "general"),
)


def _repo_domain(repo: Any) -> str | None:
    name = _s(repo).lower()
    for key, dom in _REPO_DOMAIN:
        if key in name:
            return dom
    return name or None


def _r1_tokens(r: dict, keys: tuple[str, ...]) -> int:
    vals = [r.get(k) for k in keys]
    if any(v is None for v in vals):
        return -1
    try:
        return int(sum(int(v) for v in vals))
    except (TypeError, ValueError):
        return -1


def _r1_distill_raw(r: dict) -> dict:
    content = _s(r["content"])
    score = _num(r.get("score"))
    return {
        "question": _s(r["input"]),
        "reasoning": _s(r["reasoning_content"]),
        "response": content,
        "final_answer": last_boxed(content) if score == 10 else None,
        "domain_hint": _repo_domain(r.get("repo_name")),
        "quality_score": score,
        "answer_verified": -1 if math.isnan(score) else int(score == 10),
        "tokens": _r1_tokens(r, ("prompt_tokens_len", "reasoning_content_tokens_len", "content_tokens_len")),
    }


def _think_output(prompt: str, output: Any, r: dict) -> dict:
    split = _split_output(output)
    reasoning, response = split if split is not None else ("", _s(output))
    score = _num(r.get("score"))
    return {
        "question": prompt,
        "reasoning": reasoning,
        "response": response,
        "final_answer": last_boxed(response) if (math.isnan(score) or score == 10) else None,
        "domain_hint": _repo_domain(r.get("repo_name")) if r.get("repo_name") else None,
        "quality_score": score,
        "tokens": _r1_tokens(r, ("prompt_tokens_len", "reasoning_content_tokens_len", "content_tokens_len")),
    }


def _alpaca(r: dict) -> dict:
    prompt = _s(r["instruction"]).strip()
    extra = _s(r.get("input")).strip()
    return _think_output(prompt + ("\n\n" + extra if extra else ""), r["output"], r)


def _chat(r: dict) -> dict:
    turns = r.get("messages") if "messages" in r else r.get("conversations")
    if not isinstance(turns, list):
        raise KeyError("messages")
    role_of = {
        "human": "user",
        "user": "user",
        "gpt": "assistant",
        "assistant": "assistant",
        "system": "system",
    }
    norm = [
        (role_of.get(_s(t.get("role", t.get("from"))).lower(), "?"), _s(t.get("content", t.get("value"))))
        for t in turns
        if isinstance(t, dict)
    ]
    last_a = max((i for i, (role, _) in enumerate(norm) if role == "assistant"), default=None)
    if last_a is None:
        raise KeyError("an assistant turn")
    users = [text for role, text in norm[:last_a] if role == "user"]
    if not users:
        raise KeyError("a user turn before the assistant turn")
    answer = norm[last_a][1]
    out = _think_output(users[-1], answer, r)
    if "reasoning_content" in turns[last_a] and not out["reasoning"]:
        out["reasoning"] = _s(turns[last_a]["reasoning_content"])
    return out


def _r1_mmlupro(r: dict) -> dict:
    return {
        "question": _with_options(r["question"], r.get("options")),
        "reasoning": _s(r["reasoning"]),
        "response": _s(r["answer_text"]),
        "final_answer": _opt(r.get("answer_letter")),
        "domain_hint": _opt(r.get("subject")),
        "answer_verified": -1
        if not r.get("answer_letter")
        else int(_s(r.get("predicted_letter")) == _s(r["answer_letter"])),
        "tokens": int(r["total_tokens"]) if isinstance(r.get("total_tokens"), int) else -1,
    }


def _r1_bangla(r: dict) -> dict:
    split = split_think(_s(r["reason"]))
    reasoning = split[0] if split else _s(r["reason"]).replace("<think>", "").strip()
    gen = _s(r["gen_ans"])
    m = re.search(r"\b([A-D])\b", gen)
    gold = _opt(r.get("answer"))
    return {
        "question": _with_options(r["question"], r.get("options")),
        "reasoning": reasoning,
        "response": gen,
        "final_answer": gold,
        "answer_verified": -1 if not (gold and m) else int(m.group(1) == gold),
    }


def _r1_zero_sft(r: dict) -> dict:
    prompt = _s(r["prompt"])
    m = re.search(r"User:\s*(.*?)\s*Assistant:", prompt, re.DOTALL)
    split = _split_output(r["response"])
    reasoning, tail = split if split else ("", _s(r["response"]))
    ans = re.search(r"<answer>(.*?)</answer>", tail, re.DOTALL)
    return {
        "question": m.group(1) if m else prompt,
        "reasoning": reasoning,
        "response": ans.group(1).strip() if ans else tail,
        "final_answer": _opt(r.get("ground_truth")),
    }


def _mwp_zh(r: dict) -> dict:
    return {
        "question": _s(r["original_text"]),
        "reasoning": _s(r["equation"]),
        "response": _s(r.get("ans")),
        "final_answer": _opt(r.get("ans")),
    }


def _svamp(r: dict) -> dict:
    answer = r.get("Answer")
    final = None if answer is None else (f"{answer:g}" if isinstance(answer, float) else _s(answer))
    return {
        "question": (_s(r["Body"]).strip() + " " + _s(r["Question"]).strip()).strip(),
        "reasoning": _s(r["Equation"]).strip(),
        "response": final or "",
        "final_answer": final,
        "domain_hint": _opt(r.get("Type")),
    }


def _asdiv(r: dict) -> dict:
    final = _s(r.get("Answer")).split("(")[0].strip() or None
    return {
        "question": (_s(r["Body"]).strip() + " " + _s(r["Question"]).strip()).strip(),
        "reasoning": _s(r["Formula"]),
        "response": _s(r.get("Answer")),
        "final_answer": final,
        "domain_hint": _opt(r.get("Solution-Type")),
        "level": _num(r.get("Grade")),
    }


@dataclass(frozen=True)
class RecordFormat:
    """A record format: the keys that identify it and the adapter that normalises it."""

    name: str
    keys: frozenset[str]
    adapt: Callable[[dict], dict]
    description: str
    #: the raw key whose value the adapter passes through unchanged as the reasoning (None: derived), so that a
    #: batch reader may hand the adapter only its first characters and the parser the whole column
    reasoning_key: str | None = None
    #: the raw key holding a ``<think>…</think>`` output that the adapter splits with :func:`split_think`
    #: (reasoning before ``</think>``, response after), so that a batch reader may split the column itself and
    #: hand the adapter :class:`ThinkParts` and the parser the reasoning column
    think_key: str | None = None


# Most specific first: detection picks the first format whose keys are all present.
FORMATS: tuple[RecordFormat, ...] = (
    RecordFormat(
        "r1_distill_raw",
        frozenset({"input", "reasoning_content", "content"}),
        _r1_distill_raw,
        "Chinese-DeepSeek-R1-Distill-data-110k raw (input / reasoning_content / content)",
        "reasoning_content",
    ),
    RecordFormat(
        "s1k_1.1",
        frozenset({"question", "deepseek_thinking_trajectory"}),
        _s1k_11,
        "s1K-1.1 (R1 trace in deepseek_thinking_trajectory)",
        "deepseek_thinking_trajectory",
    ),
    RecordFormat(
        "s1k",
        frozenset({"question", "thinking_trajectories"}),
        _s1k,
        "s1K (thinking_trajectories)",
        "thinking_trajectories",
    ),
    RecordFormat(
        "r1_mmlupro",
        frozenset({"question", "reasoning", "answer_text"}),
        _r1_mmlupro,
        "R1 traces on MMLU-Pro (question / options / reasoning / answer_text)",
        "reasoning",
    ),
    RecordFormat(
        "r1_bangla_mmlu",
        frozenset({"question", "reason", "gen_ans"}),
        _r1_bangla,
        "R1 <think> traces on Bangla MMLU (reason / gen_ans)",
    ),
    RecordFormat(
        "r1_zero_sft",
        frozenset({"prompt", "response", "ground_truth"}),
        _r1_zero_sft,
        "r1_zero SFT (prompt / response with </think> <answer> / ground_truth), e.g. CS336 MATH",
        think_key="response",
    ),
    RecordFormat(
        "gsm8k_model_solutions",
        frozenset({"question", "ground_truth"}),
        _gsm8k_model_solutions,
        "GSM8K example_model_solutions (ground_truth + per-model is_correct labels as accuracy)",
    ),
    RecordFormat(
        "aqua", frozenset({"question", "options", "rationale", "correct"}), _aqua, "AQuA-RAT", "rationale"
    ),
    RecordFormat("math", frozenset({"problem", "solution"}), _math, "MATH / MATH-500 (problem / solution)"),
    RecordFormat("limo", frozenset({"question", "solution"}), _limo, "LIMO (question / solution / answer)"),
    RecordFormat("gsm8k", frozenset({"question", "answer"}), _gsm8k, "GSM8K (question / answer with #### n)"),
    RecordFormat(
        "r1_distill_sft",
        frozenset({"instruction", "output", "repo_name"}),
        _alpaca,
        "Chinese-DeepSeek-R1-Distill SFT (instruction / output with <think>)",
        think_key="output",
    ),
    RecordFormat(
        "alpaca",
        frozenset({"instruction", "output"}),
        _alpaca,
        "Alpaca (instruction / input / output)",
        think_key="output",
    ),
    RecordFormat("messages", frozenset({"messages"}), _chat, "chat messages [{role, content}]"),
    RecordFormat("sharegpt", frozenset({"conversations"}), _chat, "ShareGPT conversations [{from, value}]"),
    RecordFormat("mwp_zh", frozenset({"original_text", "equation", "ans"}), _mwp_zh, "Ape210K / Math23K"),
    RecordFormat("svamp", frozenset({"Body", "Question", "Equation", "Answer"}), _svamp, "SVAMP"),
    RecordFormat("asdiv", frozenset({"Body", "Question", "Formula", "Answer"}), _asdiv, "ASDiv"),
)
FORMAT_NAMES = tuple(f.name for f in FORMATS) + ("custom",)


def detect_format(record: dict) -> RecordFormat:
    """The first format (most specific first) whose identifying keys all appear in ``record``.

    :raises DataError: no known format matches; the message lists the keys seen and how to map them.
    """
    keys = set(record)
    for fmt in FORMATS:
        if fmt.keys <= keys:
            return fmt
    raise DataError(
        f"cannot detect the record format from the keys {sorted(keys)[:20]}; name it with --format "
        f"({', '.join(FORMAT_NAMES)}) or map fields with --field question=KEY,reasoning=KEY,answer=KEY"
    )


def get_format(name: str) -> RecordFormat:
    for fmt in FORMATS:
        if fmt.name == name:
            return fmt
    raise ValueError(f"unknown format {name!r}; choose one of {', '.join(FORMAT_NAMES)}")


def parse_field_map(spec: str | dict | None) -> dict[str, str]:
    """Parse ``"question=q,reasoning=trace.text,answer=gold"`` into a dict; keys must be in :data:`NORM_FIELDS`."""
    if spec is None:
        return {}
    if isinstance(spec, str):
        pairs = [p for p in spec.split(",") if p.strip()]
        out = {}
        for p in pairs:
            if "=" not in p:
                raise ValueError(f"--field expects NAME=KEY pairs separated by commas, got {p!r}")
            k, v = p.split("=", 1)
            out[k.strip()] = v.strip()
        spec = out
    bad = sorted(set(spec) - set(NORM_FIELDS))
    if bad:
        raise ValueError(f"unknown field name(s) {bad} in the field map; use {', '.join(NORM_FIELDS)}")
    return dict(spec)


def _get_path(record: dict, path: str) -> Any:
    cur: Any = record
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.lstrip("-").isdigit() and -len(cur) <= int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise KeyError(path)
    return cur


_ID_KEYS = ("id", "ID", "unique_id", "uid", "qid")


class Normalizer:
    """Turns raw records into :class:`NormRecord` for one format (detected on the first record unless given).

    :param format: a name from :data:`FORMAT_NAMES`, or None to detect it from the first record.
    :param fields: overrides ``{normalised field: dotted key}``; with ``format="custom"`` (or when given alone)
        ``question`` and ``reasoning`` must be mapped.
    :param accuracy_field: a (dotted) key holding a precomputed accuracy in [0, 1] (or a bool).
    """

    def __init__(
        self,
        format: str | None = None,
        fields: dict[str, str] | None = None,
        accuracy_field: str | None = None,
    ) -> None:
        self.fields = parse_field_map(fields)
        if format == "custom" or (format is None and {"question", "reasoning"} <= set(self.fields)):
            if not {"question", "reasoning"} <= set(self.fields):
                raise ValueError(
                    "format 'custom' needs --field question=KEY,reasoning=KEY (answer=KEY optional)"
                )
            self.format: RecordFormat | None = RecordFormat("custom", frozenset(), lambda r: {}, "field map")
        else:
            self.format = get_format(format) if format else None
        self.accuracy_field = accuracy_field

    def __call__(self, raw: dict, index: int) -> NormRecord:
        """Normalise one raw record.

        :raises KeyError: a field the format needs is missing (the caller reports the location).
        :raises DataError: the record is not an object, or its question/reasoning is empty.
        """
        if not isinstance(raw, dict):
            raise DataError(f"expected a JSON object, got {type(raw).__name__}")
        if self.format is None:
            self.format = detect_format(raw)
        out = self.format.adapt(raw) if self.format.name != "custom" else {}
        for name, key in self.fields.items():
            value = _get_path(raw, key)
            if name == "answer":
                out["final_answer"] = _opt(value)
            elif name == "domain":
                out["domain_hint"] = _opt(value)
            elif name in ("level", "score"):
                out["level" if name == "level" else "quality_score"] = _num(value)
            elif name == "tokens":
                out["tokens"] = int(_num(value)) if not math.isnan(_num(value)) else -1
            elif name == "id":
                out["id"] = _s(value)
            else:
                out[name] = _s(value)
        out.setdefault("response", "")
        if self.accuracy_field is not None:
            out["accuracy"] = _accuracy_value(raw, self.accuracy_field)
        rid = out.pop("id", None)
        if rid is None:
            rid = next((_s(raw[k]) for k in _ID_KEYS if k in raw and raw[k] is not None), None)
        rec = NormRecord(id=rid if rid is not None else str(index), **out)
        if not rec.question.strip():
            raise DataError("empty question")
        if not rec.reasoning.strip():
            raise DataError("empty reasoning")
        return rec

    @property
    def reasoning_key(self) -> str | None:
        """The top-level raw key holding the reasoning unchanged (see :attr:`RecordFormat.reasoning_key`), or None."""
        key = self.fields.get("reasoning")
        if key is None and self.format is not None:
            key = self.format.reasoning_key
        return key if key is not None and "." not in key else None

    @property
    def think_key(self) -> str | None:
        """The top-level raw key whose ``<think>`` output the format splits (:attr:`RecordFormat.think_key`), or
        None: also when the reasoning is mapped (:attr:`reasoning_key`) or a field map or the accuracy field reads
        that key, since they need its raw value."""
        if self.format is None or self.format.think_key is None or "reasoning" in self.fields:
            return None
        key = self.format.think_key
        read = [*self.fields.values(), *([self.accuracy_field] if self.accuracy_field else [])]
        return None if any(k.split(".")[0] == key for k in read) else key

    @property
    def has_native_ids(self) -> bool:
        return "id" in self.fields or (self.format is not None and self.format.name != "custom")


def _accuracy_value(raw: dict, key: str) -> float:
    try:
        value = _get_path(raw, key)
    except KeyError:
        return math.nan
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (list, tuple)):
        return (
            float(np.mean([float(bool(v)) if isinstance(v, bool) else float(v) for v in value]))
            if value
            else math.nan
        )
    acc = float(value)
    if not (0.0 <= acc <= 1.0) and not math.isnan(acc):
        raise DataError(f"accuracy field {key!r} = {acc} is outside [0, 1]")
    return acc


# ----------------------------------------------------------------------------------------------------------------
# sources
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where the records come from: ``kind`` is jsonl, json, parquet, csv, hf_disk or memory."""

    kind: str
    path: Path | None = None
    obj: Any = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return str(self.path) if self.path is not None else f"<{type(self.obj).__name__}>"

    def fingerprint(self) -> dict:
        """Identity of the input for cache keys: path, size and mtime for files, a content hash in memory."""
        if self.path is not None:
            paths = (
                sorted(p for p in self.path.rglob("*") if p.is_file()) if self.path.is_dir() else [self.path]
            )
            return {
                "kind": self.kind,
                "path": str(self.path.resolve()),
                "files": [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in paths],
            }
        return {"kind": self.kind, "type": type(self.obj).__name__}


def open_source(data: Any) -> Source:
    """Classify ``data`` (a path or an in-memory dataset) into a :class:`Source`.

    :raises FileNotFoundError: the path does not exist.
    :raises DataError: the file type is not supported.
    """
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.exists():
            raise FileNotFoundError(f"input {path} does not exist")
        if path.is_dir():
            if (
                (path / "dataset_info.json").exists()
                or (path / "state.json").exists()
                or (path / "dataset_dict.json").exists()
            ):
                return Source("hf_disk", path)
            raise DataError(f"{path} is a folder but not a Hugging Face dataset saved with save_to_disk()")
        suffix = path.suffix.lower()
        kind = {
            ".jsonl": "jsonl",
            ".ndjson": "jsonl",
            ".parquet": "parquet",
            ".pq": "parquet",
            ".csv": "csv",
            ".tsv": "csv",
        }.get(suffix)
        if suffix == ".json":
            with open(path, "rb") as fh:
                head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
            kind = "json" if head.startswith(b"[") else "jsonl"
        if kind is None:
            raise DataError(
                f"unsupported input file type {suffix!r} ({path}); use .jsonl, .json, .parquet or .csv"
            )
        return Source(kind, path)
    return Source("memory", None, data)


@dataclass
class BadRecords:
    """Bad records met while reading: ``(location, reason)`` pairs plus a total count."""

    items: list[tuple[str, str]] = field(default_factory=list)
    count: int = 0

    def add(self, location: str, reason: str) -> None:
        self.count += 1
        if len(self.items) < 100:
            self.items.append((location, reason))

    def message(self, limit: int = 5) -> str:
        lines = [f"  {loc}: {why}" for loc, why in self.items[:limit]]
        more = f"\n  ... and {self.count - limit} more" if self.count > limit else ""
        return "\n".join(lines) + more


def iter_raw(source: Source, bad: BadRecords, *, batch_size: int = 4096) -> Iterator[tuple[int, str, Any]]:
    """Stream ``(position, location, raw record)`` from a source; undecodable records go to ``bad``.

    ``position`` identifies the record for the writers: the 0-based line index for JSONL (so that skipped bad
    lines keep the numbering), the 0-based record index otherwise.
    """
    if source.kind == "jsonl":
        with open(source.path, "rb") as fh:
            for lineno, line in enumerate(fh, 1):
                rec = _json_line(line, source.path, lineno, bad)
                if rec is not _SKIP:
                    yield lineno - 1, f"{source.path}:{lineno}", rec
    elif source.kind == "json":
        try:
            with open(source.path, encoding="utf-8") as fh:
                items = json.load(fh)
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{source.path}: not UTF-8 at byte {exc.start}; re-encode the file as UTF-8"
            ) from None
        except json.JSONDecodeError as exc:
            raise DataError(f"{source.path}:{exc.lineno}: malformed JSON: {exc.msg}") from None
        if isinstance(items, dict):
            items = next((v for v in items.values() if isinstance(v, list)), [items])
        for i, rec in enumerate(items):
            yield i, f"{source.path}[{i}]", rec
    elif source.kind == "csv":
        delim = "\t" if source.path.suffix.lower() == ".tsv" else ","
        with open(source.path, "rb") as raw_fh:
            lines = _decoded_lines(raw_fh, source.path, bad)
            reader = csv.DictReader(lines, delimiter=delim)
            for i, row in enumerate(reader):
                yield i, f"{source.path}:row {i + 1}", dict(row)
    elif source.kind == "parquet":
        pq = _pyarrow_parquet()
        pf = pq.ParquetFile(source.path)
        i = 0
        for batch in pf.iter_batches(batch_size=batch_size):
            for rec in batch.to_pylist():
                yield i, f"{source.path}[{i}]", rec
                i += 1
    elif source.kind == "hf_disk":
        ds = _load_hf_disk(source.path)
        for start in range(0, len(ds), batch_size):
            chunk = ds[start : start + batch_size]
            keys = list(chunk)
            for j in range(len(chunk[keys[0]]) if keys else 0):
                yield start + j, f"{source.path}[{start + j}]", {k: chunk[k][j] for k in keys}
    else:
        yield from _iter_memory(source.obj, batch_size)


#: bytes of JSONL read per batch by :func:`iter_batches` (pass 1 holds about three times this much at once)
JSONL_BATCH_BYTES = 32 << 20


@dataclass
class RawBatch:
    """Raw records from :func:`iter_batches`.

    :ivar positions: (m,) int64 position of each record, as :func:`iter_raw` numbers them.
    :ivar records: the raw records. When ``texts`` is given, each record's ``text_key`` value holds only its first
        ``head_chars`` characters (whitespace-only texts are emptied) and ``texts`` holds the whole values; with
        ``think_key``, the record's value is a :class:`ThinkParts` (the whole value where it has no ``</think>``).
    :ivar texts: a pyarrow string array of the whole ``text_key`` values (of the :func:`split_think` reasonings
        of the ``think_key`` values, ``""`` where there is none), or None.
    :ivar where: the file (or ``row``) the records come from; :meth:`location` names record i as :func:`iter_raw`
        does (``locs`` when given, else ``file:line`` with ``line_numbers``, else ``file[i]``).
    """

    positions: np.ndarray
    records: list
    texts: Any = None
    where: str = ""
    line_numbers: bool = False
    locs: list[str] | None = None

    def location(self, i: int) -> str:
        if self.locs is not None:
            return self.locs[i]
        pos = int(self.positions[i])
        return f"{self.where}:{pos + 1}" if self.line_numbers else f"{self.where}[{pos}]"


def iter_batches(
    source: Source,
    bad: BadRecords,
    *,
    text_key: str | None = None,
    think_key: str | None = None,
    head_chars: int = 512,
    batch_size: int = 4096,
    batch_bytes: int | None = None,
) -> Iterator[RawBatch]:
    """Stream the records of ``source`` in batches (same records, positions and bad-record reports as
    :func:`iter_raw`).

    With ``text_key`` (a top-level key holding a long text, e.g. the reasoning), columnar sources (JSONL read with
    ``pyarrow.json`` in ``batch_bytes`` chunks, Parquet, ``datasets`` folders, pyarrow tables) hand that column over
    whole as a pyarrow array (``RawBatch.texts``) and put only its first ``head_chars`` characters into the records,
    so that the long texts never become Python objects. A JSONL chunk that pyarrow cannot read exactly (malformed
    or non-UTF-8 lines, blank lines, nulls or missing keys, nested objects, a text that is not a string) is read
    line by line instead, which reports each bad line; JSON numbers with an integral value read as int on the
    pyarrow path (``3.0`` as ``3``).

    With ``think_key`` instead (a top-level key holding R1 ``<think>…</think>`` outputs), the same sources split
    that column with :func:`split_think_column`: ``RawBatch.texts`` holds the reasonings and each record a
    :class:`ThinkParts`, so that a format adapter gets what :func:`split_think` would give it, with the reasoning
    cut to ``head_chars`` characters.

    :param source: the source. :param bad: collects undecodable records.
    :param text_key: key of the long text column, or None (plain records).
    :param think_key: key of a ``<think>`` output column to split, or None; not together with ``text_key``.
    :param head_chars: characters of ``text_key`` kept in the records.
    :param batch_size: records per batch for record sources.
    :param batch_bytes: bytes per JSONL chunk (default :data:`JSONL_BATCH_BYTES`).
    """
    if text_key is not None and think_key is not None:
        raise ValueError("iter_batches takes text_key or think_key, not both")
    if source.kind == "jsonl":
        yield from _jsonl_batches(
            source.path, bad, text_key, think_key, head_chars, batch_bytes or JSONL_BATCH_BYTES
        )
        return
    arrow_batches = None
    if source.kind == "parquet":
        arrow_batches = _pyarrow_parquet().ParquetFile(source.path).iter_batches(batch_size=batch_size)
    elif source.kind == "hf_disk":
        arrow_batches = iter(_load_hf_disk(source.path).data.table.to_batches(max_chunksize=batch_size))
    elif source.kind == "memory" and type(source.obj).__module__.split(".")[0] == "pyarrow":
        obj = source.obj
        arrow_batches = iter(obj.to_batches(max_chunksize=batch_size) if hasattr(obj, "to_batches") else [obj])
    if arrow_batches is not None:
        where = str(source.path) if source.path is not None else ""
        start = 0
        for batch in arrow_batches:
            pos = np.arange(start, start + batch.num_rows, dtype=np.int64)
            start += batch.num_rows
            got = _arrow_records(batch, text_key, think_key, head_chars, integral_doubles=False)
            records, texts = (batch.to_pylist(), None) if got is None else got
            locs = None if source.path is not None else [f"row {int(p)}" for p in pos]
            yield RawBatch(pos, records, texts, where, locs=locs)
        return
    positions: list[int] = []
    records: list = []
    locs: list[str] = []
    for pos, loc, rec in iter_raw(source, bad, batch_size=batch_size):
        positions.append(pos)
        records.append(rec)
        locs.append(loc)
        if len(records) >= batch_size:
            yield RawBatch(np.asarray(positions, np.int64), records, locs=locs)
            positions, records, locs = [], [], []
    if records:
        yield RawBatch(np.asarray(positions, np.int64), records, locs=locs)


def _arrow_records(
    batch: Any, text_key: str | None, think_key: str | None, head_chars: int, *, integral_doubles: bool
) -> tuple[list, Any] | None:
    """``(records with the text head, whole text column)`` of an arrow batch or table (with ``think_key``:
    ``(records with ThinkParts, reasoning column)``), or None when it does not qualify."""
    import pyarrow as pa
    import pyarrow.compute as pc

    key = text_key if text_key is not None else think_key
    if key is None or key not in batch.schema.names:
        return None
    texts = batch.column(key)
    if texts.type not in (pa.string(), pa.large_string()) or texts.null_count:
        return None
    if think_key is not None:
        texts, heads = split_think_column(texts, head_chars)
    else:
        heads = pc.utf8_slice_codeunits(texts, 0, head_chars).to_pylist()
        # a head of blanks: the whole text is blank (the adapter then reports it empty), or a long run of blanks
        # opens it and the head starts at its first non-blank character instead
        blank_head = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(pa.array(heads, pa.large_string()))), 0)
        for i in np.flatnonzero(blank_head.to_numpy(zero_copy_only=False)):
            heads[i] = texts[int(i)].as_py().lstrip()[:head_chars]
    rest = batch.drop_columns([key])
    records = rest.to_pylist()
    if integral_doubles:  # pyarrow.json reads a column mixing ints and floats as floats; json reads 3 as int
        for name, col in zip(rest.schema.names, rest.columns):
            if pa.types.is_floating(col.type):
                x = col.to_numpy(zero_copy_only=False)
                with np.errstate(invalid="ignore"):
                    integral = np.isfinite(x) & (x == np.floor(x))
                for i in np.flatnonzero(integral):
                    records[i][name] = int(x[i])
    for rec, h in zip(records, heads):
        rec[key] = h
    return records, texts


#: the characters :meth:`str.strip` removes (``str.isspace``), for pyarrow's ``utf8_trim``
_PY_SPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)
#: the same as an RE2 character class, for pyarrow's regex kernels
_RE2_SPACE = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in _PY_SPACE) + "]"


def split_think_column(texts: Any, head_chars: int) -> tuple[Any, list]:
    """:func:`split_think` of every string of a pyarrow string column, computed on byte offsets (pyarrow compute,
    no Python string per reasoning).

    :param texts: a pyarrow string or large_string array (or chunked array) without nulls.
    :param head_chars: characters of each reasoning kept in its :class:`ThinkParts`.
    :return: ``(reasonings, values)``: the reasonings as a pyarrow large_string array (chunked like ``texts``;
        ``""`` where a string has no ``</think>``), and per string a :class:`ThinkParts` (its reasoning's first
        ``head_chars`` characters and its response), or the string itself where it has no ``</think>``.
    """
    import pyarrow as pa

    if isinstance(texts, pa.ChunkedArray):
        parts = [_split_think_array(c, head_chars) for c in texts.chunks]
        return pa.chunked_array([r for r, _ in parts], pa.large_string()), [v for _, vs in parts for v in vs]
    return _split_think_array(texts, head_chars)


def _split_think_array(texts: Any, head_chars: int) -> tuple[Any, list]:
    import pyarrow as pa
    import pyarrow.compute as pc

    # byte offsets in each string: the first "</think>" (-1: none); the blanks, "<think>" and blanks that open it
    # (removed by strip, removeprefix and strip); the blanks before "</think>" (the end of the stripped head; where
    # the head holds nothing else, the end comes before the start and the reasoning is empty)
    tag = pc.find_substring_regex(texts, "</think>").to_numpy(zero_copy_only=False)
    has = tag >= 0
    lead = pc.extract_regex(texts, f"^(?P<lead>{_RE2_SPACE}*(?:<think>{_RE2_SPACE}*)?)").field("lead")
    start = np.where(has, pc.binary_length(lead).to_numpy(zero_copy_only=False), 0)
    stop = _blanks_before(texts, start, np.where(has, tag, 0))
    reasoning = _substrings(texts, start, np.maximum(stop, start))
    offsets = _offsets(texts)
    lengths = offsets[1:] - offsets[:-1]
    tails = _substrings(texts, np.where(has, tag + 8, lengths), lengths)
    responses = pc.utf8_trim(tails.filter(pa.array(has)), _PY_SPACE).to_pylist()
    heads = pc.utf8_slice_codeunits(reasoning, 0, head_chars).to_pylist()
    response = iter(responses)
    values: list = [ThinkParts(h, next(response)) if s else None for h, s in zip(heads, has.tolist())]
    for i in np.flatnonzero(~has).tolist():
        values[i] = texts[i].as_py()
    return reasoning, values


def _blanks_before(texts: Any, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Byte offset in each string where the blanks (:data:`_PY_SPACE`) that end ``texts[i][start[i]:end[i]]``
    begin (``end`` on UTF-8 boundaries). Only the last 64 bytes are looked at, unless they are all blanks."""
    import pyarrow.compute as pc

    data, offsets, _ = _arrow_buffers(texts)
    offsets = offsets[:-1].astype(np.int64)
    lo = np.maximum(start, end - 64)
    cut = np.flatnonzero(lo > start)
    if cut.size:  # a window that starts inside a character starts after it instead
        for _ in range(3):
            cut = cut[(data[offsets[cut] + lo[cut]] & 0xC0) == 0x80]
            lo[cut] += 1
    def kept_bytes(strings: Any) -> np.ndarray:
        return pc.binary_length(pc.utf8_rtrim(strings, _PY_SPACE)).to_numpy(zero_copy_only=False)

    kept = kept_bytes(_substrings(texts, lo, end))
    stop = lo + kept
    redo = np.flatnonzero((kept == 0) & (lo > start))
    if redo.size:
        stop[redo] = start[redo] + kept_bytes(_substrings(texts.take(redo), start[redo], end[redo]))
    return stop


def _offsets(texts: Any) -> np.ndarray:
    """The (n + 1,) int64 offsets of a pyarrow (large_)string array into its data buffer."""
    return _arrow_buffers(texts)[1].astype(np.int64)


def _substrings(texts: Any, start: np.ndarray, stop: np.ndarray) -> Any:
    """``texts[i][start[i]:stop[i]]`` (byte offsets on UTF-8 boundaries, ``start <= stop``) as a new large_string
    array: one copy, made by pyarrow's ``take`` from a zero-copy array that interleaves these substrings with the
    bytes between them (its offsets ascend because string i lies before string i + 1 in the data buffer)."""
    import pyarrow as pa

    n = len(texts)
    if n == 0:
        return pa.array([], pa.large_string())
    base = _offsets(texts)[:-1]
    bounds = np.empty(2 * n + 1, np.int64)
    bounds[0 : 2 * n : 2] = base + start
    bounds[1 : 2 * n : 2] = base + stop
    bounds[2 * n] = bounds[2 * n - 1]
    data = texts.buffers()[2] or pa.py_buffer(b"")
    both = pa.Array.from_buffers(pa.large_string(), 2 * n, [None, pa.py_buffer(bounds), data])
    return both.take(pa.array(np.arange(0, 2 * n, 2, dtype=np.int64)))


def _jsonl_batches(
    path: Path,
    bad: BadRecords,
    text_key: str | None,
    think_key: str | None,
    head_chars: int,
    batch_bytes: int,
) -> Iterator[RawBatch]:
    where = str(path)
    line0 = 0
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(batch_bytes)
            if not chunk:
                break
            if not chunk.endswith(b"\n"):
                chunk += fh.readline()
            n_lines = chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
            batch = (
                _jsonl_arrow(chunk, line0, n_lines, where, text_key, think_key, head_chars)
                if text_key or think_key
                else None
            )
            if batch is None:
                positions, records = [], []
                for i, line in enumerate(chunk.split(b"\n")[:n_lines]):
                    rec = _json_line(line, where, line0 + i + 1, bad)
                    if rec is not _SKIP:
                        positions.append(line0 + i)
                        records.append(rec)
                batch = RawBatch(np.asarray(positions, np.int64), records, None, where, True)
            yield batch
            line0 += n_lines


def _jsonl_arrow(
    chunk: bytes,
    line0: int,
    n_lines: int,
    where: str,
    text_key: str | None,
    think_key: str | None,
    head_chars: int,
) -> RawBatch | None:
    import pyarrow as pa
    import pyarrow.json as pj

    raw = np.frombuffer(chunk, dtype=np.uint8)
    starts = np.concatenate([[0], np.flatnonzero(raw == 10) + 1])[:n_lines]
    if (raw[starts] != ord("{")).any():  # blank lines, leading spaces, non-objects: the exact line path
        return None
    try:
        table = pj.read_json(
            pa.BufferReader(chunk),
            read_options=pj.ReadOptions(block_size=max(1 << 20, min(len(chunk), 8 << 20))),
            parse_options=pj.ParseOptions(newlines_in_values=False),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != n_lines:
        return None
    # nulls may stand for missing keys, and objects come back with the keys of every row: both read differently
    # from json.loads, so such chunks take the exact path
    if any(col.null_count or _has_struct(col.type) for col in table.columns):
        return None
    got = _arrow_records(table, text_key, think_key, head_chars, integral_doubles=True)
    if got is None:
        return None
    return RawBatch(np.arange(line0, line0 + n_lines, dtype=np.int64), got[0], got[1], where, True)


def _has_struct(t: Any) -> bool:
    import pyarrow as pa

    if pa.types.is_struct(t) or pa.types.is_map(t):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _has_struct(t.value_type)
    return False


_SKIP = object()


def _json_line(line: bytes, where: Any, lineno: int, bad: BadRecords) -> Any:
    """One decoded JSONL record, or ``_SKIP`` for a blank or bad line (reported to ``bad`` as ``where:lineno``)."""
    if not line.strip():
        return _SKIP
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad.add(f"{where}:{lineno}", f"not UTF-8 ({exc.reason} at byte {exc.start}); re-encode the file as UTF-8")
        return _SKIP
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        bad.add(f"{where}:{lineno}", f"malformed JSON: {exc.msg} at column {exc.colno}")
        return _SKIP


def _decoded_lines(fh: Any, path: Path, bad: BadRecords) -> Iterator[str]:
    for lineno, line in enumerate(fh, 1):
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad.add(
                f"{path}:{lineno}",
                f"not UTF-8 ({exc.reason} at byte {exc.start}); re-encode the file as UTF-8",
            )


def _iter_memory(obj: Any, batch_size: int) -> Iterator[tuple[int, str, Any]]:
    if isinstance(obj, (list, tuple)):
        for i, rec in enumerate(obj):
            yield i, f"record {i}", rec
        return
    mod = type(obj).__module__.split(".")[0]
    if mod == "pandas":
        cols = list(obj.columns)
        for i, row in enumerate(obj.itertuples(index=False, name=None)):
            yield i, f"row {i}", dict(zip(cols, row))
        return
    if mod == "pyarrow":
        batches = obj.to_batches(max_chunksize=batch_size) if hasattr(obj, "to_batches") else [obj]
        i = 0
        for batch in batches:
            for rec in batch.to_pylist():
                yield i, f"row {i}", rec
                i += 1
        return
    if mod == "datasets":
        for i, rec in enumerate(obj):
            yield i, f"row {i}", rec
        return
    raise TypeError(
        f"unsupported data of type {type(obj).__name__}: pass a path, a list of dicts, a pandas DataFrame, "
        "a pyarrow Table or a datasets.Dataset"
    )


def _pyarrow_parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError("Parquet needs pyarrow: pip install pyarrow") from None
    return pq


def _load_hf_disk(path: Path) -> Any:
    try:
        import datasets
    except ImportError:
        raise ImportError("reading a saved Hugging Face dataset needs `pip install datasets`") from None
    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        if len(ds) == 1:
            return next(iter(ds.values()))
        if "train" in ds:
            return ds["train"]
        raise DataError(f"{path} holds the splits {list(ds)}; pass the folder of one split")
    return ds


def source_columns(source: Source) -> list[str] | None:
    """Column names of a columnar source (Parquet, CSV, datasets, pandas, arrow), None for record sources."""
    if source.kind == "parquet":
        return list(_pyarrow_parquet().ParquetFile(source.path).schema_arrow.names)
    if source.kind == "hf_disk":
        return list(_load_hf_disk(source.path).column_names)
    return None


# ----------------------------------------------------------------------------------------------------------------
# atomic writers and the selected-subset writer
# ----------------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; it replaces ``final`` only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; outputs get the usual permissions
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def selected_name(source: Source) -> str:
    """Output file name of the selected subset: the input's own format (datasets folders become Parquet)."""
    return {
        "jsonl": "selected.jsonl",
        "json": "selected.json",
        "csv": "selected.csv",
        "parquet": "selected.parquet",
        "hf_disk": "selected.parquet",
    }.get(source.kind, "selected.jsonl")


def _json_value(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


def _jsonl_with_fields(line: bytes, extra: dict) -> bytes:
    """Append ``extra`` keys to one JSON-object line, leaving the original bytes of the record untouched."""
    body = line.rstrip(b"\r\n").rstrip()
    if not body.endswith(b"}"):
        raise DataError("a kept JSONL line does not end with '}'")
    add = json.dumps(extra, ensure_ascii=False)[1:-1].encode("utf-8")
    inner = body[:-1].rstrip()
    sep = b"" if inner.endswith(b"{") else b", "
    return inner + sep + add + b"}\n"


def write_selected(
    source: Source,
    path: str | os.PathLike,
    keep_rows: np.ndarray,
    extra: dict[str, np.ndarray],
    valid_rows: np.ndarray,
) -> None:
    """Write the kept raw records with ``extra`` (``rbic_*``) fields, in input order, atomically.

    :param source: the file source the records were read from (re-read here, streaming).
    :param path: output path.
    :param keep_rows: bool mask over the *valid* records (those that were normalised).
    :param extra: per-valid-record arrays of extra field values, added to the kept records.
    :param valid_rows: for each valid record, its ``position`` as yielded by :func:`iter_raw`.
    """
    kept_raw = valid_rows[keep_rows]
    kept_pos = {int(r): j for j, r in enumerate(kept_raw)}
    kept_valid = np.flatnonzero(keep_rows)
    cols = {k: np.asarray(v)[kept_valid] for k, v in extra.items()}

    def extras(j: int) -> dict:
        return {k: _json_value(v[j]) for k, v in cols.items()}

    with atomic_path(path) as tmp:
        if source.kind == "jsonl":
            with open(source.path, "rb") as fin, open(tmp, "wb") as fout:
                for line_i, line in enumerate(fin):
                    j = kept_pos.get(line_i)
                    if j is not None:
                        fout.write(_jsonl_with_fields(line, extras(j)))
        elif source.kind in ("json", "csv"):
            bad = BadRecords()
            rows = []
            for pos, _, rec in iter_raw(source, bad):
                j = kept_pos.get(pos)
                if j is not None:
                    rows.append({**rec, **extras(j)})
            if source.kind == "json":
                with open(tmp, "w", encoding="utf-8") as fout:
                    json.dump(rows, fout, ensure_ascii=False, indent=1)
            else:
                names = list(rows[0]) if rows else list(extra)
                with open(tmp, "w", encoding="utf-8", newline="") as fout:
                    writer = csv.DictWriter(fout, fieldnames=names)
                    writer.writeheader()
                    writer.writerows(rows)
        elif source.kind in ("parquet", "hf_disk"):
            import pyarrow as pa

            pq = _pyarrow_parquet()
            if source.kind == "parquet":
                batches: Iterator[Any] = pq.ParquetFile(source.path).iter_batches(batch_size=65536)
            else:
                batches = iter(_load_hf_disk(source.path).data.table.to_batches(max_chunksize=65536))
            writer = None
            start = 0
            try:
                for batch in batches:
                    idx = np.flatnonzero(np.isin(np.arange(start, start + batch.num_rows), kept_raw))
                    rel = [kept_pos[start + int(i)] for i in idx]
                    start += batch.num_rows
                    table = pa.Table.from_batches([batch]).take(pa.array(idx, type=pa.int64()))
                    for k, v in cols.items():
                        table = table.append_column(k, pa.array(np.asarray(v)[rel]))
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, table.schema)
                    writer.write_table(table)
                if writer is None:
                    raise DataError("no records to write")
            finally:
                if writer is not None:
                    writer.close()
        else:
            raise ValueError(f"write_selected needs a file source, got {source.kind}")


def select_memory(
    obj: Any, keep_valid: np.ndarray, extra: dict[str, np.ndarray], valid_rows: np.ndarray
) -> Any:
    """The kept records of an in-memory dataset, in the same type, with ``extra`` (``rbic_*``) columns added."""
    kept_valid = np.flatnonzero(keep_valid)
    rows = valid_rows[kept_valid]
    cols = {k: np.asarray(v)[kept_valid] for k, v in extra.items()}
    if isinstance(obj, (list, tuple)):
        return [
            {**obj[int(r)], **{k: _json_value(v[j]) for k, v in cols.items()}} for j, r in enumerate(rows)
        ]
    mod = type(obj).__module__.split(".")[0]
    if mod == "pandas":
        out = obj.iloc[rows].copy()
        for k, v in cols.items():
            out[k] = v
        return out
    if mod == "pyarrow":
        import pyarrow as pa

        out = obj.take(pa.array(rows, type=pa.int64()))
        for k, v in cols.items():
            out = out.append_column(k, pa.array(v))
        return out
    if mod == "datasets":
        out = obj.select(rows.tolist())
        for k, v in cols.items():
            out = out.add_column(k, v.tolist())
        return out
    raise TypeError(f"unsupported data of type {type(obj).__name__}")
