"""Per-example language-model losses: perplexity and IFD (instruction-following difficulty, Cherry LLM).

The LM is a causal model with the Hugging Face interface (``model(input_ids=, attention_mask=).logits``) and a
tokenizer with ``encode(text, add_special_tokens=False)``; torch is imported only inside the functions.
``IFD = mean CE(A | Q) / mean CE(A)`` (``cherry_seletion/data_by_IFD.py``), both averaged over the same answer
tokens: without a BOS token the first answer token has no context in the unconditional pass, so it is left
out of both means.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._progress import ProgressArg, make_progress
from .base import StrategyInput, register

PROMPT_TEMPLATE = "{question}\n"
ANSWER_TEMPLATE = "{reasoning}\n{response}"


def format_pairs(
    inp: StrategyInput, *, prompt_template: str = PROMPT_TEMPLATE, answer_template: str = ANSWER_TEMPLATE
) -> tuple[list[str], list[str]]:
    """Prompt and answer texts of every record.

    :param inp: the records.
    :param prompt_template: format string with ``{question}``.
    :param answer_template: format string with ``{reasoning}`` and ``{response}`` (an empty reasoning drops
        the separator).
    """
    prompts = [prompt_template.format(question=q) for q in inp.question]
    answers = [
        answer_template.format(reasoning=r, response=a) if r else a for r, a in zip(inp.reasoning, inp.response)
    ]
    return prompts, answers


def resolve_device(device: str | None) -> Any:
    """``None``/``"auto"``: CUDA when available, else CPU."""
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_lm(model: Any, tokenizer: Any = None, device: str | None = None) -> tuple[Any, Any]:
    """Accept a model object or a local path (loaded offline with transformers) and its tokenizer.

    :param model: a causal LM module or a local directory.
    :param tokenizer: a tokenizer, a local directory, or None to load it from ``model``'s directory.
    :param device: target device (``"auto"``: CUDA when available); None leaves a given module where it is and
        puts a loaded one on ``"auto"``.
    """
    loaded = isinstance(model, str)
    if loaded:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = model
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
        if tokenizer is None:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if isinstance(tokenizer, str):
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tokenizer, local_files_only=True)
    if tokenizer is None:
        raise ValueError("a tokenizer is required when model is a module: pass tokenizer=")
    if device is None and not loaded:
        return model, tokenizer  # a module given without device= stays where it is
    return model.to(resolve_device(device)), tokenizer


@dataclass(frozen=True)
class Encoded:
    """A token sequence whose tokens from ``start`` on are scored.

    :param ids: token ids.
    :param start: index of the first scored token (>= 1: token 0 is never predicted).
    """

    ids: list[int]
    start: int


def encode_pairs(
    tokenizer: Any, prompts: Sequence[str], answers: Sequence[str], *, max_length: int = 2048, with_prompt: bool = True
) -> list[Encoded]:
    """Tokenise ``[BOS] prompt answer`` (or ``[BOS] answer``) and mark the answer tokens as scored.

    Prompt and answer are tokenised separately so the boundary is exact. Too-long sequences lose the end of the
    answer (then the start of the prompt if the prompt alone does not fit).

    :param tokenizer: has ``encode(text, add_special_tokens=False)`` and optionally ``bos_token_id``.
    :param prompts: prompt texts.
    :param answers: answer texts.
    :param max_length: maximum sequence length.
    :param with_prompt: False gives the unconditional sequences ``[BOS] answer`` of the IFD denominator.
    """
    if len(prompts) != len(answers):
        raise ValueError(f"{len(prompts)} prompts but {len(answers)} answers")
    bos = getattr(tokenizer, "bos_token_id", None)
    head = [] if bos is None else [int(bos)]
    skip = 0 if bos is not None else 1  # without BOS the first answer token has no unconditional context
    out = []
    for p, a in zip(prompts, answers):
        p_ids = list(tokenizer.encode(p, add_special_tokens=False)) if with_prompt else []
        a_ids = list(tokenizer.encode(a, add_special_tokens=False))
        room = max_length - len(head)
        if len(p_ids) > room - 1:
            p_ids = p_ids[len(p_ids) - max(room - 1, 0):]
        a_ids = a_ids[: room - len(p_ids)]
        start = len(head) + len(p_ids) + skip
        out.append(Encoded(ids=head + p_ids + a_ids, start=max(start, 1)))
    return out


def collate(batch: Sequence[Encoded], pad_id: int, device: Any) -> dict[str, Any]:
    """Right-pad a batch: ``input_ids``, ``attention_mask`` and ``labels`` (-100 where not scored)."""
    import torch

    width = max(len(e.ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    for b, e in enumerate(batch):
        t = torch.tensor(e.ids, dtype=torch.long)
        ids[b, : len(e.ids)] = t
        mask[b, : len(e.ids)] = 1
        labels[b, e.start : len(e.ids)] = t[e.start :]
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}


def causal_lm_losses(model: Any, batch: dict[str, Any]) -> Any:
    """Per-example mean cross-entropy over the scored tokens, shape (B,); NaN where nothing is scored."""
    import torch

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    logits = logits[:, :-1].float()
    target = batch["labels"][:, 1:]
    ce = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100, reduction="none"
    ).view(target.shape)
    counted = (target != -100).sum(dim=1)
    return ce.sum(dim=1) / counted  # 0/0 = NaN for empty answers


def _pad_id(tokenizer: Any) -> int:
    for name in ("pad_token_id", "eos_token_id", "bos_token_id"):
        v = getattr(tokenizer, name, None)
        if v is not None:
            return int(v)
    return 0


def batches_by_length(encoded: Sequence[Encoded], batch_size: int) -> list[np.ndarray]:
    """Index batches of similar length (less padding); deterministic."""
    lengths = np.array([len(e.ids) for e in encoded])
    order = np.argsort(-lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def sequence_losses(
    model: Any,
    encoded: Sequence[Encoded],
    *,
    pad_id: int = 0,
    batch_size: int = 8,
    progress: ProgressArg = None,
    loss_fn: Callable[[Any, dict[str, Any]], Any] = causal_lm_losses,
) -> np.ndarray:
    """Mean CE of the scored tokens of every sequence, batched; float64 (n,), NaN where nothing is scored."""
    import torch

    device = next(model.parameters()).device
    out = np.full(len(encoded), np.nan)
    cb, close = make_progress(progress, "LM losses")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            done = 0
            for idx in batches_by_length(encoded, batch_size):
                batch = collate([encoded[i] for i in idx], pad_id, device)
                out[idx] = loss_fn(model, batch).double().cpu().numpy()
                done += len(idx)
                if cb:
                    cb(done, len(encoded))
    finally:
        model.train(was_training)
        close()
    return out


@dataclass(frozen=True)
class AnswerLosses:
    """Per-record answer losses.

    :param conditional: mean CE(A | Q) over the answer tokens.
    :param unconditional: mean CE(A) over the same tokens.
    """

    conditional: np.ndarray
    unconditional: np.ndarray

    @property
    def perplexity(self) -> np.ndarray:
        """exp(mean CE(A | Q))."""
        return np.exp(self.conditional)

    @property
    def ifd(self) -> np.ndarray:
        """CE(A | Q) / CE(A)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.conditional / self.unconditional


def answer_losses(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    answers: Sequence[str],
    *,
    unconditional: bool = True,
    max_length: int = 2048,
    batch_size: int = 8,
    progress: ProgressArg = None,
) -> AnswerLosses:
    """CE(A | Q) and (optionally) CE(A) of every pair.

    :param model: causal LM (on its device).
    :param tokenizer: its tokenizer.
    :param prompts: prompt texts.
    :param answers: answer texts.
    :param unconditional: also compute CE(A) (the IFD denominator); NaN otherwise.
    :param max_length: maximum sequence length.
    :param batch_size: sequences per forward pass.
    :param progress: None, True (tqdm) or a ``(done, total)`` callable.
    """
    pad = _pad_id(tokenizer)
    cond = sequence_losses(model, encode_pairs(tokenizer, prompts, answers, max_length=max_length),
                           pad_id=pad, batch_size=batch_size, progress=progress)
    if unconditional:
        enc = encode_pairs(tokenizer, prompts, answers, max_length=max_length, with_prompt=False)
        # Score exactly the answer tokens that the conditional pass scored (it may have truncated more).
        cond_enc = encode_pairs(tokenizer, prompts, answers, max_length=max_length)
        enc = [
            Encoded(ids=u.ids[: u.start + len(c.ids) - c.start], start=u.start) for u, c in zip(enc, cond_enc)
        ]
        uncond = sequence_losses(model, enc, pad_id=pad, batch_size=batch_size, progress=progress)
    else:
        uncond = np.full(len(prompts), np.nan)
    return AnswerLosses(conditional=cond, unconditional=uncond)


def _lm_losses_for(inp: StrategyInput, model: Any, tokenizer: Any, device: str | None, unconditional: bool,
                   max_length: int, batch_size: int, progress: ProgressArg,
                   losses: AnswerLosses | None = None) -> AnswerLosses:
    if losses is not None:
        if len(losses.conditional) != inp.n or (unconditional and len(losses.unconditional) != inp.n):
            raise ValueError(f"losses= must hold one value per record ({inp.n})")
        return losses
    if model is None:
        raise ValueError("this strategy needs a causal LM: pass model= (a module or a local path) and tokenizer=")
    model, tokenizer = load_lm(model, tokenizer, device)
    prompts, answers = format_pairs(inp)
    return answer_losses(model, tokenizer, prompts, answers, unconditional=unconditional, max_length=max_length,
                         batch_size=batch_size, progress=progress)


def _nan_last(key: np.ndarray) -> np.ndarray:
    """Ascending order of ``key`` with NaN last; ties by row order."""
    nan = np.isnan(key)
    return np.lexsort((np.arange(len(key)), np.where(nan, 0.0, key), nan)).astype(np.int64)


@register("perplexity")
def perplexity_order(
    inp: StrategyInput,
    *,
    seed: int = 0,
    model: Any = None,
    tokenizer: Any = None,
    keep: str = "low",
    device: str | None = None,
    max_length: int = 2048,
    batch_size: int = 8,
    progress: ProgressArg = None,
    losses: AnswerLosses | None = None,
) -> np.ndarray:
    """Order by the answer's perplexity under the LM given the question.

    :param inp: the records.
    :param seed: unused (deterministic).
    :param model: causal LM module or local path.
    :param tokenizer: its tokenizer (or a local path).
    :param keep: ``"low"`` (most likely answers first), ``"high"``, or ``"middle"`` (closest to the median
        first, as Cherry LLM's 25–75th percentile band).
    :param device: ``"auto"``, ``"cpu"``, ``"cuda"``.
    :param max_length: maximum sequence length.
    :param batch_size: sequences per forward pass.
    :param progress: None, True (tqdm) or a ``(done, total)`` callable.
    :param losses: precomputed :func:`answer_losses` of these records (e.g. from a cache) instead of ``model``.
    """
    if keep not in ("low", "high", "middle"):
        raise ValueError(f"keep must be 'low', 'high' or 'middle', got {keep!r}")
    ce = _lm_losses_for(inp, model, tokenizer, device, False, max_length, batch_size, progress, losses).conditional
    if keep == "high":
        return _nan_last(-ce)
    if keep == "middle":
        return _nan_last(np.abs(ce - np.nanmedian(ce)) if np.isfinite(ce).any() else ce)
    return _nan_last(ce)


@register("ifd")
def ifd_order(
    inp: StrategyInput,
    *,
    seed: int = 0,
    model: Any = None,
    tokenizer: Any = None,
    device: str | None = None,
    max_length: int = 2048,
    batch_size: int = 8,
    progress: ProgressArg = None,
    losses: AnswerLosses | None = None,
) -> np.ndarray:
    """Cherry LLM: highest IFD first among ``IFD <= 1``; records with ``IFD > 1`` (the question does not help)
    follow by increasing IFD; undefined IFD last.

    :param inp: the records.
    :param seed: unused (deterministic).
    :param model: causal LM module or local path.
    :param tokenizer: its tokenizer (or a local path).
    :param device: ``"auto"``, ``"cpu"``, ``"cuda"``.
    :param max_length: maximum sequence length.
    :param batch_size: sequences per forward pass.
    :param progress: None, True (tqdm) or a ``(done, total)`` callable.
    :param losses: precomputed :func:`answer_losses` (with the unconditional pass) instead of ``model``.
    """
    ifd = _lm_losses_for(inp, model, tokenizer, device, True, max_length, batch_size, progress, losses).ifd
    ifd = np.where(np.isfinite(ifd), ifd, np.nan)
    over = ifd > 1.0
    key = np.where(over, ifd, -ifd)
    nan = np.isnan(ifd)
    return np.lexsort((np.arange(inp.n), np.where(nan, 0.0, key), over, nan)).astype(np.int64)
