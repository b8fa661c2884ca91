"""Difficulty from a model's measured accuracy (DESIGN §1.4, §6): generation backends, answer checking, tiers.

Backends generate ``n`` sampled answers per question with the model's chat template:
:class:`TransformersBackend` (any machine) and :class:`VllmBackend` (GPU, ``pip install vllm``). Answers are
checked with ``math-verify`` in worker *processes*: its timeouts use ``signal.alarm``, which only works in a
main thread. Without a model, :func:`proxy_accuracy` gives a documented length-rank proxy.

Tiers (DESIGN §1.4): T0 trivial ``p̂ = 1``, T1 easy ``0.75 ≤ p̂ < 1``, T2 medium ``0.25 < p̂ < 0.75``,
T3 hard ``0 < p̂ ≤ 0.25``, T4 unsolved ``p̂ = 0``.
"""

from __future__ import annotations

import math
import multiprocessing
import re
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .contribution import grouped_percentile
from .io import last_boxed

TIER_NAMES = ("T0 trivial", "T1 easy", "T2 medium", "T3 hard", "T4 unsolved")
#: accuracy sources stored in the score table
SOURCE_MEASURED, SOURCE_PROPAGATED, SOURCE_PROXY = "measured", "propagated", "proxy"

PROMPT_SUFFIX = {
    "en": "Please reason step by step, and put your final answer within \\boxed{}.",
    "zh": "请一步步推理，并把最终答案放到 \\boxed{}。",
}


def tiers_from_accuracy(p_hat: np.ndarray, n_samples: int = 8) -> np.ndarray:
    """Tier 0..4 of each accuracy in [0, 1] (DESIGN §1.4).

    Measured accuracies are multiples of ``1/n_samples``; continuous (propagated) ones count as 1 or 0 when
    within half a sample of it.

    :param p_hat: (n,) accuracies in [0, 1].
    :param n_samples: samples per question (sets the tolerance for the 0 and 1 ends).
    """
    p = np.asarray(p_hat, dtype=np.float64)
    if np.isnan(p).any():
        raise ValueError(f"accuracy has NaN at rows {np.flatnonzero(np.isnan(p))[:5].tolist()}")
    eps = 0.5 / max(1, n_samples)
    tier = np.full(p.shape, 2, dtype=np.int8)
    tier[p >= 1 - eps] = 0
    tier[(p >= 0.75) & (p < 1 - eps)] = 1
    tier[(p > eps) & (p <= 0.25)] = 3
    tier[p <= eps] = 4
    return tier


def difficulty_from_accuracy(p_hat: np.ndarray, tier: np.ndarray, n_samples: int = 8) -> np.ndarray:
    """Laplace-smoothed difficulty ``1 − (c + 1)/(n + 2)`` with ``c = p̂·n``; 0 for trivial (T0) items."""
    p = np.asarray(p_hat, dtype=np.float64)
    d = 1.0 - (p * n_samples + 1.0) / (n_samples + 2.0)
    return np.where(np.asarray(tier) == 0, 0.0, d).astype(np.float32)


def proxy_accuracy(tokens: np.ndarray, domain: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The no-model proxy (DESIGN §1.4 item 4): difficulty = rank percentile of the trace length in its domain.

    Longer traces within a domain count as harder (s1; arXiv 2503.18069). Tiers are equal-mass quintiles of that
    percentile (T0 = shortest fifth), and the reported accuracy is ``1 − percentile``.

    :param tokens: (n,) trace lengths.
    :param domain: (n,) domain labels.
    :return: ``(accuracy, tier, difficulty)``.
    """
    pct = grouped_percentile(np.asarray(tokens, dtype=np.float64), np.asarray(domain))
    tier = np.minimum(4, np.floor(pct * 5)).astype(np.int8)
    return (1.0 - pct).astype(np.float32), tier, np.where(tier == 0, 0.0, pct).astype(np.float32)


def stratified_label_mask(
    domain: np.ndarray,
    fraction: float,
    *,
    eligible: np.ndarray | None = None,
    min_per_domain: int = 8,
    seed: int = 0,
) -> np.ndarray:
    """Choose which records to measure: ``ceil(fraction·size)`` (at least ``min_per_domain``) per domain.

    :param domain: (n,) domain labels.
    :param fraction: share of each domain to label, in (0, 1].
    :param eligible: (n,) bool, records that can be measured (e.g. those with a reference answer).
    :param min_per_domain: lower bound per domain (capped by the eligible count).
    :param seed: seed of the draw.
    """
    if not (0.0 < fraction <= 1.0):
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    domain = np.asarray(domain)
    eligible = np.ones(domain.shape, dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    rng = np.random.default_rng(seed)
    mask = np.zeros(domain.shape, dtype=bool)
    for d in np.unique(domain):
        members = np.flatnonzero((domain == d) & eligible)
        if members.size == 0:
            continue
        want = min(members.size, max(min_per_domain, math.ceil(fraction * np.count_nonzero(domain == d))))
        mask[rng.permutation(members)[:want]] = True
    return mask


# ----------------------------------------------------------------------------------------------------------------
# answer extraction and checking
# ----------------------------------------------------------------------------------------------------------------

_LETTER = re.compile(r"^\(?([A-J])\)?$")
_ANSWER_IS = re.compile(
    r"(?:answer is|answer:|答案是|答案为)\s*[:：]?\s*\(?([^\n]+?)\)?\s*(?:$|\n|\.\s)", re.IGNORECASE
)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def extract_answer(text: str) -> str | None:
    """The final answer of a generation: last ``\\boxed{}``, else ``#### x``, else "answer is x", else the last number."""
    if not text:
        return None
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    if "####" in text:
        return text.rsplit("####", 1)[1].strip().split("\n")[0].strip() or None
    m = list(_ANSWER_IS.finditer(text))
    if m:
        return m[-1].group(1).strip()
    nums = _NUMBER.findall(text)
    return nums[-1].replace(",", "") if nums else None


def _check_one(gold: str, generation: str) -> bool:
    from math_verify import parse, verify

    gold = gold.strip()
    letter = _LETTER.match(gold)
    if letter:
        pred = extract_answer(generation) or ""
        m = re.search(r"\b([A-J])\b", pred)
        return bool(m) and m.group(1) == letter.group(1)
    gold_parsed = parse(gold if ("\\boxed" in gold or "$" in gold) else "$" + gold.replace(",", "") + "$")
    if not gold_parsed:
        return (extract_answer(generation) or "").strip() == gold
    pred_parsed = parse(generation)
    if not pred_parsed:
        return False
    return bool(verify(gold_parsed, pred_parsed))


def _check_chunk(pairs: list[tuple[str, str]]) -> list[bool]:
    out = []
    for gold, gen in pairs:
        try:
            out.append(_check_one(gold, gen))
        except Exception:  # noqa: BLE001 - an unparsable answer is a wrong answer, never a crash
            out.append(False)
    return out


def check_answers(
    golds: Sequence[str], generations: Sequence[str], *, workers: int = 2, chunk: int = 64
) -> np.ndarray:
    """Check generations against gold answers with math-verify in worker processes.

    Multiple-choice golds (a single letter A–J) are compared with the extracted letter; everything else with
    ``math_verify.verify(parse(gold), parse(generation))``.

    :param golds: reference answers.
    :param generations: model outputs, same length.
    :param workers: worker processes (math-verify's ``signal.alarm`` timeouts need a main thread).
    :param chunk: pairs per task.
    :return: (m,) bool.
    """
    if len(golds) != len(generations):
        raise ValueError(f"{len(golds)} gold answers but {len(generations)} generations")
    pairs = list(zip(golds, generations))
    if not pairs:
        return np.zeros(0, dtype=bool)
    chunks = [pairs[i : i + chunk] for i in range(0, len(pairs), chunk)]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(chunks))), mp_context=ctx) as pool:
        results = list(pool.map(_check_chunk, chunks))
    return np.array([ok for part in results for ok in part], dtype=bool)


# ----------------------------------------------------------------------------------------------------------------
# generation backends
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling settings of the accuracy rollouts (DESIGN §6.2 defaults).

    :param n: samples per question. :param temperature: sampling temperature. :param top_p: nucleus mass.
    :param max_new_tokens: generation length cap. :param seed: sampling seed.
    """

    n: int = 8
    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 4096
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n < 1 or self.max_new_tokens < 1:
            raise ValueError(
                f"need n >= 1 and max_new_tokens >= 1, got n={self.n}, max_new_tokens={self.max_new_tokens}"
            )
        if self.temperature < 0 or not (0 < self.top_p <= 1):
            raise ValueError(
                f"need temperature >= 0 and 0 < top_p <= 1, got {self.temperature}, {self.top_p}"
            )


def build_prompt(tokenizer: Any, question: str, lang: str = "en") -> str:
    """The question with the step-by-step suffix, wrapped in the tokenizer's chat template when it has one."""
    text = f"{question.strip()}\n{PROMPT_SUFFIX.get(lang, PROMPT_SUFFIX['en'])}"
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
        )
    return text + "\n"


def check_model_path(path: str | Path) -> Path:
    """A local model folder, or a clear error; models are never downloaded from a hub."""
    p = Path(path)
    if not p.is_dir():
        raise FileNotFoundError(
            f"model path {p} does not exist or is not a folder (models are only loaded from "
            "local folders, never downloaded)"
        )
    if not (p / "config.json").exists():
        raise FileNotFoundError(f"model folder {p} has no config.json: not a Hugging Face model folder")
    return p


class TransformersBackend:
    """Sampling with ``transformers`` ``generate`` (CPU or one GPU), for machines without vLLM.

    :param model: a local model folder (or an already loaded ``PreTrainedModel``, then give ``tokenizer``).
    :param tokenizer: a tokenizer, when ``model`` is a loaded model.
    :param batch_size: questions per ``generate`` call.
    :param device: ``"cpu"``, ``"cuda"`` or None (GPU when present).
    """

    name = "transformers"

    def __init__(
        self, model: Any, *, tokenizer: Any = None, batch_size: int = 8, device: str | None = None
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if isinstance(model, (str, Path)):
            path = check_model_path(model)
            self.model_id = str(path.resolve())
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
            model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=dtype)
        else:
            if tokenizer is None:
                raise ValueError("a loaded model needs its tokenizer (tokenizer=)")
            self.model_id = f"{type(model).__name__}:{getattr(model.config, 'name_or_path', '')}"
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.batch_size = batch_size

    def prompt(self, question: str, lang: str = "en") -> str:
        return build_prompt(self.tokenizer, question, lang)

    def generate(self, prompts: Sequence[str], sampling: SamplingConfig) -> list[list[str]]:
        """``sampling.n`` completions per prompt (decoded without the prompt)."""
        import torch

        out: list[list[str]] = []
        for b in range(0, len(prompts), self.batch_size):
            batch = list(prompts[b : b + self.batch_size])
            enc = self.tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(
                self.device
            )
            torch.manual_seed(sampling.seed + b)
            with torch.no_grad():
                gen = self.model.generate(
                    input_ids=enc["input_ids"],
                    attention_mask=enc["attention_mask"],
                    do_sample=sampling.temperature > 0,
                    temperature=sampling.temperature or None,
                    top_p=sampling.top_p,
                    max_new_tokens=sampling.max_new_tokens,
                    num_return_sequences=sampling.n,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            texts = self.tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            out.extend(texts[i * sampling.n : (i + 1) * sampling.n] for i in range(len(batch)))
        return out


class VllmBackend:
    """Sampling with vLLM (DESIGN §6.2): one ``generate`` call, ``n`` samples per prompt, bf16.

    :param model: a local model folder.
    :param max_model_len: context length. :param gpu_memory_utilization: share of GPU memory vLLM may use.
    """

    name = "vllm"

    def __init__(
        self,
        model: str | Path,
        *,
        max_model_len: int = 8192,
        gpu_memory_utilization: float = 0.90,
        seed: int = 0,
        **llm_kwargs: Any,
    ) -> None:
        try:
            from vllm import LLM
        except ImportError:
            raise ImportError(
                "the vLLM backend needs `pip install vllm` (or use --accuracy-backend transformers)"
            ) from None
        path = check_model_path(model)
        self.model_id = str(path.resolve())
        self.llm = LLM(
            model=str(path),
            dtype="bfloat16",
            seed=seed,
            max_model_len=max_model_len,
            gpu_memory_utilization=gpu_memory_utilization,
            **llm_kwargs,
        )
        self.tokenizer = self.llm.get_tokenizer()

    def prompt(self, question: str, lang: str = "en") -> str:
        return build_prompt(self.tokenizer, question, lang)

    def generate(self, prompts: Sequence[str], sampling: SamplingConfig) -> list[list[str]]:
        from vllm import SamplingParams

        sp = SamplingParams(
            n=sampling.n,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_new_tokens,
            seed=sampling.seed,
        )
        outs = self.llm.generate(list(prompts), sp)
        return [[o.text for o in out.outputs] for out in outs]


def make_backend(
    kind: str, model: str | Path, *, device: str | None = None, batch_size: int = 8, max_model_len: int = 8192
) -> Any:
    """Construct a backend by name (``"transformers"`` or ``"vllm"``)."""
    if kind == "transformers":
        return TransformersBackend(model, device=device, batch_size=batch_size)
    if kind == "vllm":
        return VllmBackend(model, max_model_len=max_model_len)
    raise ValueError(f"accuracy backend must be 'transformers' or 'vllm', got {kind!r}")


def measure_accuracy(
    backend: Any,
    questions: Sequence[str],
    golds: Sequence[str],
    sampling: SamplingConfig,
    *,
    langs: Sequence[str] | None = None,
    workers: int = 2,
) -> np.ndarray:
    """Generate ``sampling.n`` answers per question and return the number verified correct per question.

    :param backend: a backend with ``prompt()`` and ``generate()``.
    :param questions: questions to answer. :param golds: their reference answers.
    :param sampling: sampling settings. :param langs: per-question language for the prompt suffix.
    :param workers: answer-checking processes.
    :return: (m,) int32 correct counts in 0..n.
    """
    if len(questions) != len(golds):
        raise ValueError(f"{len(questions)} questions but {len(golds)} gold answers")
    langs = langs or ["en"] * len(questions)
    prompts = [backend.prompt(q, lang) for q, lang in zip(questions, langs)]
    gens = backend.generate(prompts, sampling)
    flat_gold = [g for g, outs in zip(golds, gens) for _ in outs]
    flat_gen = [o for outs in gens for o in outs]
    ok = check_answers(flat_gold, flat_gen, workers=workers)
    counts = (
        np.add.reduceat(ok.astype(np.int32), np.arange(0, len(flat_gen), sampling.n))
        if len(flat_gen)
        else np.zeros(0, np.int32)
    )
    return counts.astype(np.int32)
