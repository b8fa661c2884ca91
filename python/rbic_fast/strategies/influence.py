"""Influence-based pruning (DESIGN §2): LESS-style gradient features, scores toward correct and incorrect
validation answers, and the rank / union pruning rules of Humane et al. (arXiv 2510.06108).

Pipeline, all batched:

1. per-example gradients of the loss w.r.t. a chosen set of ``nn.Linear`` modules (LoRA adapters when the
   model has them), read from forward hooks as ``sum_t g_t x_t^T`` (exact per example, one backward per
   batch);
2. optionally the LESS Adam transform ``m / sqrt(v + eps)`` with the checkpoint's optimizer moments
   (training examples only; validation uses plain gradients, as LESS does);
3. a seeded random projection (Rademacher or Gaussian, ``1/sqrt(dim)``) to ``dim`` dimensions as GEMMs on the
   model's device, generated in fixed row chunks so it never has to exist in full;
4. scores ``s_C(d) = mean_{v in V_C} sim(d, v)`` and ``s_I`` likewise, with ``sim`` the LESS cosine, the
   TracIn inner product, or the inner product through the inverse of the projected empirical Fisher
   ``(F^T F / n + damping I)^-1`` (the influence-function form ``g_v^T H^-1 g_d``). Positive means that
   training on ``d`` lowers the loss on ``v``;
5. ``r(d) = ½[rank↑(s_C) + rank↓(s_I)] / |D|``; keep the highest ``r`` (rule ``"rank"``), or remove
   ``(bottom-q of s_C) ∪ (top-q of s_I)`` (rule ``"union"``).

torch (and peft, transformers, math-verify) are imported inside the functions that need them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._progress import ProgressArg, make_progress
from .base import StrategyInput, register
from .lm_scores import (
    PROMPT_TEMPLATE,
    _pad_id,
    batches_by_length,
    causal_lm_losses,
    collate,
    encode_pairs,
    format_pairs,
    load_lm,
)

ADAM_BETAS = (0.9, 0.999)  # LESS collect_grad_reps.py
ADAM_EPS = 1e-8


# ----------------------------------------------------------------------------------------------- validation
def math_verify_check(reference: str, answer: str) -> bool:
    """True when math-verify finds ``answer`` equivalent to ``reference``."""
    from math_verify import parse, verify

    return bool(verify(parse(reference), parse(answer)))


@dataclass(frozen=True)
class Validation:
    """Validation examples: questions, the model's answers, and whether each answer is correct.

    :param question: question texts.
    :param answer: the model's answers (the text whose loss is differentiated).
    :param correct: (m,) bool, True for correct answers (V_C), False for incorrect ones (V_I).
    """

    question: list[str]
    answer: list[str]
    correct: np.ndarray

    def __post_init__(self) -> None:
        c = np.asarray(self.correct)
        if len(self.question) != len(self.answer) or c.shape != (len(self.question),):
            raise ValueError(f"Validation needs equal lengths: {len(self.question)} questions, "
                             f"{len(self.answer)} answers, correct of shape {c.shape}")
        if c.dtype != bool:
            raise TypeError(f"Validation.correct must be a bool array, got {c.dtype}")
        if len(c) == 0:
            raise ValueError("Validation is empty: give at least one correct or incorrect answer")

    @classmethod
    def from_generations(
        cls,
        question: Sequence[str],
        reference: Sequence[str],
        generate: Callable[[list[str]], Sequence[str]],
        check: Callable[[str, str], bool] | None = None,
    ) -> Validation:
        """Generate one answer per question and grade it.

        :param question: validation questions.
        :param reference: reference answers.
        :param generate: the accuracy backend: questions -> one answer each.
        :param check: ``check(reference, answer) -> bool``; default math-verify.
        """
        if len(question) != len(reference):
            raise ValueError(f"{len(question)} questions but {len(reference)} reference answers")
        answers = list(generate(list(question)))
        if len(answers) != len(question):
            raise ValueError(f"generate returned {len(answers)} answers for {len(question)} questions")
        check = check or math_verify_check
        correct = np.array([bool(check(r, a)) for r, a in zip(reference, answers)], dtype=bool)
        return cls(question=list(question), answer=answers, correct=correct)


# ----------------------------------------------------------------------------------------------- projection
class RandomProjector:
    """Seeded random projection of concatenated gradient blocks to ``dim`` dimensions.

    Block ``l`` is multiplied by its own matrix ``R_l`` (rows: the block's entries), generated in chunks of
    ``chunk_rows`` rows, each from a generator seeded by ``(seed, l, chunk)`` on the projection's device type:
    the projection does not depend on the batch size, but CPU and CUDA generators give different (equally
    valid) matrices, so compare features only from one device type. Entries are ±1/sqrt(dim) (Rademacher) or
    N(0, 1/dim), so inner products are preserved in expectation. Matrices are kept on the device when they
    fit ``cache_bytes``, otherwise regenerated for every batch (cheap on a GPU).
    """

    def __init__(self, sizes: Sequence[int], dim: int, *, seed: int = 0, kind: str = "rademacher",
                 device: Any = "cpu", chunk_rows: int = 8192, cache_bytes: int = 512 << 20) -> None:
        if dim < 1:
            raise ValueError(f"projection dim must be >= 1, got {dim}")
        if kind not in ("rademacher", "gaussian"):
            raise ValueError(f"projection kind must be 'rademacher' or 'gaussian', got {kind!r}")
        self.sizes, self.dim, self.seed, self.kind = list(sizes), int(dim), int(seed), kind
        self.device, self.chunk_rows = device, int(chunk_rows)
        self._cache: dict[tuple[int, int], Any] | None = (
            {} if sum(self.sizes) * self.dim * 4 <= cache_bytes else None
        )

    def _chunk(self, block: int, chunk: int, rows: int) -> Any:
        import torch

        if self._cache is not None and (block, chunk) in self._cache:
            return self._cache[(block, chunk)]
        state = np.random.SeedSequence([self.seed, block, chunk]).generate_state(2, dtype=np.uint32)
        device = torch.device(self.device)
        g = torch.Generator(device=device).manual_seed(int(state[0]) << 32 | int(state[1]))
        scale = 1.0 / np.sqrt(self.dim)
        if self.kind == "rademacher":
            r = torch.randint(0, 2, (rows, self.dim), generator=g, dtype=torch.int8, device=device)
            r = r.float().mul_(2).sub_(1)
        else:
            r = torch.randn((rows, self.dim), generator=g, device=device)
        r = r.mul_(scale)
        if self._cache is not None:
            self._cache[(block, chunk)] = r
        return r

    def __call__(self, blocks: Sequence[Any]) -> Any:
        """Project ``blocks`` (tensors of shape (B, sizes[l])) to (B, dim), float32."""
        import torch

        out = torch.zeros((blocks[0].shape[0], self.dim), dtype=torch.float32, device=self.device)
        for b, x in enumerate(blocks):
            if x.shape[1] != self.sizes[b]:
                raise ValueError(f"gradient block {b} has {x.shape[1]} entries, expected {self.sizes[b]}")
            x = x.float()
            for c, lo in enumerate(range(0, self.sizes[b], self.chunk_rows)):
                hi = min(self.sizes[b], lo + self.chunk_rows)
                out.addmm_(x[:, lo:hi], self._chunk(b, c, hi - lo))
        return out


# ------------------------------------------------------------------------------------ per-example gradients
def target_modules(model: Any, modules: Sequence[str] | None = None) -> list[tuple[str, Any]]:
    """The ``nn.Linear`` modules whose per-example gradients are taken.

    :param model: the torch model.
    :param modules: module names (exact, or a suffix after a dot); default: the LoRA adapters when the model
        has them, else every ``nn.Linear`` except the output head ``lm_head``.
    """
    import torch

    linear = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    if modules is None:
        lora = [(n, m) for n, m in linear if ".lora_A." in n or ".lora_B." in n]
        chosen = lora or [(n, m) for n, m in linear if n.split(".")[-1] != "lm_head"]
    else:
        chosen = [(n, m) for n, m in linear if any(n == s or n.endswith("." + s) for s in modules)]
        missing = [s for s in modules if not any(n == s or n.endswith("." + s) for n, _ in linear)]
        if missing:
            raise ValueError(f"no nn.Linear module named {missing}; Linear modules are e.g. "
                             f"{[n for n, _ in linear[:8]]}")
    if not chosen:
        raise ValueError("the model has no nn.Linear module to take gradients of; pass modules=")
    return chosen


def _block_names(targets: Sequence[tuple[str, Any]]) -> list[tuple[str, int]]:
    out = []
    for name, m in targets:
        prefix = f"{name}." if name else ""
        out.append((prefix + "weight", m.weight.numel()))
        if m.bias is not None:
            out.append((prefix + "bias", m.bias.numel()))
    return out


def per_example_gradients(model: Any, targets: Sequence[tuple[str, Any]], loss_fn: Callable[[Any, Any], Any],
                          batch: Any) -> tuple[list[Any], Any]:
    """Exact per-example gradients of ``loss_fn(model, batch)`` (shape (B,)) w.r.t. the target modules.

    One forward and one backward for the batch: a Linear's weight gradient for example b is
    ``sum_t g_bt x_bt^T`` over the positions t of that example, with x its input and g the gradient at its
    output. Examples must not interact in the forward pass (true for causal LMs with padding masks).

    :return: ``(blocks, losses)``: blocks in :func:`_block_names` order, each (B, numel); losses (B,).
    """
    import torch

    calls: dict[int, list[tuple[Any, Any]]] = {id(m): [] for _, m in targets}

    def hook(mod: Any, args: tuple, out: Any) -> None:
        calls[id(mod)].append((args[0].detach(), out))

    handles = [m.register_forward_hook(hook) for _, m in targets]
    try:
        losses = loss_fn(model, batch)
    finally:
        for h in handles:
            h.remove()
    bsz = losses.shape[0]
    total = torch.where(torch.isfinite(losses), losses, torch.zeros_like(losses)).sum()
    outs = [o for _, m in targets for _, o in calls[id(m)]]
    grads = iter(torch.autograd.grad(total, outs, allow_unused=True))
    blocks = []
    for _, m in targets:
        w = torch.zeros((bsz, m.out_features, m.in_features), dtype=torch.float32, device=losses.device)
        b = torch.zeros((bsz, m.out_features), dtype=torch.float32, device=losses.device)
        for x, _ in calls[id(m)]:
            g = next(grads)
            if g is None:
                continue
            x = x.reshape(bsz, -1, m.in_features).float()
            g = g.reshape(bsz, -1, m.out_features).float()
            w += torch.einsum("bto,bti->boi", g, x)
            b += g.sum(dim=1)
        blocks.append(w.reshape(bsz, -1))
        if m.bias is not None:
            blocks.append(b)
    return blocks, losses.detach()


def adam_moments(model: Any, optimizer: Any) -> dict[str, tuple[Any, Any]]:
    """``{parameter name: (exp_avg, exp_avg_sq)}`` from a torch Adam/AdamW optimizer holding model parameters."""
    by_param = {id(p): n for n, p in model.named_parameters()}
    out = {}
    for p, st in optimizer.state.items():
        if id(p) in by_param and "exp_avg" in st:
            out[by_param[id(p)]] = (st["exp_avg"].detach(), st["exp_avg_sq"].detach())
    if not out:
        raise ValueError("the optimizer holds no Adam moments for this model's parameters (has it taken a step?)")
    return out


def _adam_transform(g: Any, moments: tuple[Any, Any]) -> Any:
    """LESS: m / sqrt(v + eps) after one Adam moment update with this example's gradient."""
    import torch

    m0, v0 = (t.reshape(1, -1).to(g.device, torch.float32) for t in moments)
    b1, b2 = ADAM_BETAS
    m = b1 * m0 + (1 - b1) * g
    v = b2 * v0 + (1 - b2) * g * g
    return m / (v + ADAM_EPS).sqrt()


@dataclass(frozen=True)
class GradientFeatures:
    """Projected per-example gradients.

    :param features: (n, dim) float32.
    :param loss: (n,) float64 per-example loss at the same parameters (NaN where undefined).
    """

    features: np.ndarray
    loss: np.ndarray


def gradient_features(
    model: Any,
    items: Sequence[Any],
    collate_fn: Callable[[list[Any]], Any],
    loss_fn: Callable[[Any, Any], Any],
    *,
    modules: Sequence[str] | None = None,
    dim: int = 8192,
    seed: int = 0,
    kind: str = "rademacher",
    adam_state: Mapping[str, tuple[Any, Any]] | None = None,
    batches: Sequence[np.ndarray] | None = None,
    batch_size: int = 8,
    max_entries: int = 20_000_000,
    progress: ProgressArg = None,
) -> GradientFeatures:
    """Projected per-example gradient features of any torch model (the path shared by LMs and small models).

    :param model: torch module; put in eval mode for the duration.
    :param items: examples; ``collate_fn`` turns a list of them into a batch.
    :param collate_fn: list of items -> batch.
    :param loss_fn: ``(model, batch) -> (B,)`` per-example losses.
    :param modules: target ``nn.Linear`` names (see :func:`target_modules`).
    :param dim: projection dimension (LESS: 8192).
    :param seed: projection seed.
    :param kind: ``"rademacher"`` or ``"gaussian"``.
    :param adam_state: ``{param name: (exp_avg, exp_avg_sq)}`` for the LESS Adam transform, or None (SGD).
    :param batches: index batches (default consecutive ``batch_size`` chunks).
    :param batch_size: examples per backward pass.
    :param max_entries: refuse more gradient entries per example than this (each batch holds
        ``batch_size x entries`` floats and projects them with an ``entries x dim`` matrix).
    :param progress: None, True (tqdm) or a ``(done, total)`` callable.
    """
    import torch

    targets = target_modules(model, modules)
    names = _block_names(targets)
    entries = sum(size for _, size in names)
    if entries > max_entries:
        raise ValueError(f"{entries:,} gradient entries per example in {len(targets)} Linear modules is more than "
                         f"max_entries={max_entries:,}: add LoRA adapters (lora={{'r': 8}} / add_lora) or pass "
                         "modules= with a few layers")
    if adam_state is not None:
        missing = [n for n, _ in names if n not in adam_state]
        if missing:
            raise ValueError(f"adam_state has no moments for {missing[:3]}: give the optimizer state of the "
                             "checkpoint that trained these parameters, or adam_state=None for SGD gradients")
    device = next(model.parameters()).device
    proj = RandomProjector([s for _, s in names], dim, seed=seed, kind=kind, device=device)
    n = len(items)
    feats = np.zeros((n, dim), dtype=np.float32)
    loss = np.full(n, np.nan)
    if batches is None:
        batches = [np.arange(i, min(n, i + batch_size)) for i in range(0, n, batch_size)]
    saved = {p: p.requires_grad for p in model.parameters()}
    wanted = {id(p) for _, m in targets for p in m.parameters(recurse=False)}
    was_training = model.training
    cb, close = make_progress(progress, "gradient features")
    try:
        model.eval()
        for p in model.parameters():
            p.requires_grad_(id(p) in wanted)
        done = 0
        for idx in batches:
            with torch.enable_grad():
                blocks, losses = per_example_gradients(model, targets, loss_fn, collate_fn([items[i] for i in idx]))
            with torch.no_grad():
                if adam_state is not None:
                    blocks = [_adam_transform(g, adam_state[name]) for g, (name, _) in zip(blocks, names)]
                feats[idx] = proj(blocks).cpu().numpy()
            loss[idx] = losses.double().cpu().numpy()
            done += len(idx)
            if cb:
                cb(done, n)
    finally:
        for p, r in saved.items():
            p.requires_grad_(r)
        model.train(was_training)
        close()
    return GradientFeatures(features=feats, loss=loss)


# ------------------------------------------------------------------------------------------- LM + caching
def _hash_tensors(h: Any, tensors: Sequence[tuple[str, Any]]) -> None:
    import torch

    for name, t in tensors:
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())


def _cache_key(model: Any, model_key: str | None, adam_state: Mapping[str, tuple[Any, Any]] | None,
               settings: dict, texts: Sequence[str]) -> str:
    """Hash of the model (``model_key`` or class + config + weights), Adam state, settings and texts."""
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps(settings, sort_keys=True).encode())
    if model_key is not None:
        h.update(model_key.encode())
    else:
        h.update(type(model).__name__.encode())
        config = getattr(model, "config", None)
        if config is not None and hasattr(config, "to_json_string"):
            h.update(config.to_json_string().encode())
        _hash_tensors(h, list(model.state_dict().items()))
    if adam_state is not None:
        _hash_tensors(h, [(f"adam.{k}.{j}", t) for k, v in sorted(adam_state.items()) for j, t in enumerate(v)])
    for text in texts:
        h.update(text.encode())
        h.update(b"\x00")
    return h.hexdigest()


def lm_gradient_features(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    answers: Sequence[str],
    *,
    modules: Sequence[str] | None = None,
    dim: int = 8192,
    seed: int = 0,
    kind: str = "rademacher",
    adam_state: Mapping[str, tuple[Any, Any]] | None = None,
    max_length: int = 2048,
    batch_size: int = 8,
    cache_dir: str | os.PathLike | None = None,
    model_key: str | None = None,
    progress: ProgressArg = None,
) -> GradientFeatures:
    """Projected per-example gradients of the answer loss ``mean CE(A | Q)`` of a causal LM.

    With ``cache_dir`` the result is stored as ``influence-<key>.features.npy`` / ``.loss.npy``, the key
    hashing the model (``model_key``, or its class, config and every weight), the Adam state, the texts
    and all settings; a second call with the same inputs loads it instead of recomputing.

    :param model: causal LM (on its device).
    :param tokenizer: its tokenizer.
    :param prompts: prompt texts.
    :param answers: answer texts (training answers, or the model's validation answers).
    :param modules: target ``nn.Linear`` names (default: LoRA adapters, else all Linear but ``lm_head``).
    :param dim: projection dimension.
    :param seed: projection seed.
    :param kind: ``"rademacher"`` or ``"gaussian"``.
    :param adam_state: Adam moments for the LESS transform, or None.
    :param max_length: maximum sequence length.
    :param batch_size: sequences per backward pass.
    :param cache_dir: directory for cached features, or None.
    :param model_key: a string identifying the model weights (skips hashing them).
    :param progress: None, True (tqdm) or a ``(done, total)`` callable.
    """
    path = None
    if cache_dir is not None:
        settings = {"modules": list(modules) if modules else None, "dim": dim, "seed": seed, "kind": kind,
                    "max_length": max_length, "n": len(prompts), "v": 1,
                    "device": next(model.parameters()).device.type}
        key = _cache_key(model, model_key, adam_state, settings, list(prompts) + list(answers))
        path = os.path.join(os.fspath(cache_dir), f"influence-{key}")
        if os.path.exists(path + ".features.npy") and os.path.exists(path + ".loss.npy"):
            return GradientFeatures(features=np.load(path + ".features.npy"), loss=np.load(path + ".loss.npy"))
    encoded = encode_pairs(tokenizer, prompts, answers, max_length=max_length)
    pad, device = _pad_id(tokenizer), next(model.parameters()).device
    result = gradient_features(
        model, encoded, lambda b: collate(b, pad, device), causal_lm_losses, modules=modules, dim=dim, seed=seed,
        kind=kind, adam_state=adam_state, batches=batches_by_length(encoded, batch_size), progress=progress,
    )
    if path is not None:
        os.makedirs(os.fspath(cache_dir), exist_ok=True)
        for suffix, arr in ((".features.npy", result.features), (".loss.npy", result.loss)):
            tmp = f"{path}{suffix}.{os.getpid()}.tmp.npy"
            np.save(tmp, arr)
            os.replace(tmp, path + suffix)
    return result


def add_lora(model: Any, *, r: int = 8, alpha: int = 16, target_modules: Sequence[str] | None = None,
             seed: int = 0) -> Any:
    """Wrap ``model`` with fresh LoRA adapters (peft), initialised from ``seed``.

    A fresh adapter has B = 0, so only the B matrices carry gradient (``g (A x)^T``: a random sketch of the
    layer gradient); LESS instead warms the adapters up on a small share of the data first.

    :param model: a transformers model.
    :param r: LoRA rank (LESS: 128).
    :param alpha: LoRA alpha (LESS: 512).
    :param target_modules: module names (peft's default for the architecture when None).
    :param seed: seed of the adapter initialisation.
    """
    import torch
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0,
                        target_modules=list(target_modules) if target_modules else None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return get_peft_model(model, config)


# ---------------------------------------------------------------------------------------------- scoring
@dataclass(frozen=True)
class InfluenceScores:
    """Influence of each training example on the validation answers.

    :param s_correct: (n,) mean influence toward correct answers (higher: more helpful).
    :param s_incorrect: (n,) mean influence toward incorrect answers (higher: more harmful).
    """

    s_correct: np.ndarray
    s_incorrect: np.ndarray

    @property
    def rank_score(self) -> np.ndarray:
        """``r(d) = ½[rank↑(s_C) + rank↓(s_I)] / |D|`` in (0, 1]; higher is better (average ranks for ties)."""
        from scipy.stats import rankdata

        n = len(self.s_correct)
        return 0.5 * (rankdata(self.s_correct) + rankdata(-self.s_incorrect)) / n


def _normalise(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


def influence_scores(
    train: np.ndarray,
    validation: np.ndarray,
    correct: np.ndarray,
    *,
    scoring: str = "cosine",
    damping: float | None = None,
    block: int = 65536,
) -> InfluenceScores:
    """``s_C`` and ``s_I`` from training and validation gradient features.

    :param train: (n, k) training features.
    :param validation: (m, k) validation features.
    :param correct: (m,) bool: which validation answers are correct.
    :param scoring: ``"cosine"`` (LESS), ``"inner"`` (TracIn), or ``"fisher"``: ``g_v^T (F^T F / n + λI)^-1 g_d``
        with F the training features (an influence function with the empirical-Fisher Hessian).
    :param damping: λ for ``"fisher"`` (default 1e-3 × mean eigenvalue of ``F^T F / n``).
    :param block: rows per block when forming ``F^T F``.
    """
    train = np.asarray(train, dtype=np.float32)
    validation = np.asarray(validation, dtype=np.float32)
    correct = np.asarray(correct, dtype=bool)
    if train.ndim != 2 or validation.ndim != 2 or train.shape[1] != validation.shape[1]:
        raise ValueError(f"feature shapes do not match: train {train.shape}, validation {validation.shape}")
    if correct.shape != (validation.shape[0],):
        raise ValueError(f"correct must have shape ({validation.shape[0]},), got {correct.shape}")
    if scoring == "cosine":
        train, validation = _normalise(train), _normalise(validation)
    elif scoring == "fisher":
        n, k = train.shape
        gram = np.zeros((k, k))
        for lo in range(0, n, block):
            f = train[lo : lo + block].astype(np.float64)
            gram += f.T @ f
        gram /= max(n, 1)
        lam = 1e-3 * np.trace(gram) / k if damping is None else float(damping)
        if lam <= 0 and np.linalg.matrix_rank(gram) < k:
            raise ValueError("the projected Fisher is singular: give damping > 0")
        validation = np.linalg.solve(gram + lam * np.eye(k), validation.astype(np.float64).T).T.astype(np.float32)
    elif scoring != "inner":
        raise ValueError(f"scoring must be 'cosine', 'inner' or 'fisher', got {scoring!r}")
    # The mean over validation examples commutes with the (linear) similarity: one GEMV per set.
    def mean_toward(mask: np.ndarray) -> np.ndarray:
        if not mask.any():
            return np.zeros(train.shape[0])
        return (train @ validation[mask].mean(axis=0)).astype(np.float64)

    return InfluenceScores(s_correct=mean_toward(correct), s_incorrect=mean_toward(~correct))


def combine_checkpoints(scores: Sequence[InfluenceScores], learning_rates: Sequence[float]) -> InfluenceScores:
    """LESS over several checkpoints: scores weighted by each checkpoint's mean learning rate, renormalised.

    :param scores: one :class:`InfluenceScores` per checkpoint.
    :param learning_rates: the mean learning rate η̄ of the epoch ending at each checkpoint.
    """
    if len(scores) != len(learning_rates) or not scores:
        raise ValueError(f"need one learning rate per checkpoint: {len(scores)} scores, {len(learning_rates)} rates")
    w = np.asarray(learning_rates, dtype=np.float64)
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"learning rates must be >= 0 with a positive sum, got {w.tolist()}")
    w = w / w.sum()
    return InfluenceScores(s_correct=sum(wi * s.s_correct for wi, s in zip(w, scores)),
                           s_incorrect=sum(wi * s.s_incorrect for wi, s in zip(w, scores)))


def pruning_order(scores: InfluenceScores, rule: str = "rank") -> np.ndarray:
    """Priority order (best first) from influence scores.

    ``"rank"``: by ``r(d)`` descending (removing the tail = removing the lowest-r fraction). ``"union"``:
    pruning ``q`` examples from each end removes ``(bottom-q of s_C) ∪ (top-q of s_I)``; an example's removal
    level is ``min(position from the bottom of s_C, position from the top of s_I)``, and the order is by that
    level descending (ties by ``r``), so any prefix is what survives the union rule at some ``q``.

    :param scores: the influence scores.
    :param rule: ``"rank"`` or ``"union"``.
    """
    n = len(scores.s_correct)
    r = scores.rank_score
    idx = np.arange(n)
    if rule == "rank":
        return np.lexsort((idx, -r)).astype(np.int64)
    if rule == "union":
        from_bottom_c = np.empty(n, dtype=np.int64)
        from_bottom_c[np.argsort(scores.s_correct, kind="stable")] = idx
        from_top_i = np.empty(n, dtype=np.int64)
        from_top_i[np.argsort(-scores.s_incorrect, kind="stable")] = idx
        level = np.minimum(from_bottom_c, from_top_i)
        return np.lexsort((idx, -r, -level)).astype(np.int64)
    raise ValueError(f"rule must be 'rank' or 'union', got {rule!r}")


@register("influence")
def influence_order(
    inp: StrategyInput,
    *,
    seed: int = 0,
    model: Any = None,
    tokenizer: Any = None,
    validation: Validation | None = None,
    rule: str = "rank",
    scoring: str = "cosine",
    dim: int = 8192,
    kind: str = "rademacher",
    modules: Sequence[str] | None = None,
    lora: Mapping[str, Any] | None = None,
    optimizer: Any = None,
    adam_state: Mapping[str, tuple[Any, Any]] | None = None,
    damping: float | None = None,
    max_length: int = 2048,
    batch_size: int = 8,
    device: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    model_key: str | None = None,
    progress: ProgressArg = None,
) -> np.ndarray:
    """Influence-based pruning: keep examples that help correct and do not help incorrect validation answers.

    :param inp: the records.
    :param seed: projection seed (and LoRA initialisation seed).
    :param model: causal LM module or local path (the checkpoint whose gradients are used).
    :param tokenizer: its tokenizer (or a local path).
    :param validation: :class:`Validation` examples (model answers split into correct / incorrect).
    :param rule: ``"rank"`` (r(d)) or ``"union"`` (see :func:`pruning_order`).
    :param scoring: ``"cosine"`` (LESS), ``"inner"`` or ``"fisher"`` (see :func:`influence_scores`).
    :param dim: projection dimension (LESS: 8192).
    :param kind: ``"rademacher"`` or ``"gaussian"``.
    :param modules: target ``nn.Linear`` names (default: LoRA adapters, else all Linear but ``lm_head``).
    :param lora: kwargs of :func:`add_lora` to add fresh adapters for the duration of the call, or None.
    :param optimizer: the checkpoint's torch Adam optimizer (LESS Adam transform of training gradients).
    :param adam_state: ``{param name: (exp_avg, exp_avg_sq)}`` instead of ``optimizer``.
    :param damping: λ for ``scoring="fisher"``.
    :param max_length: maximum sequence length.
    :param batch_size: sequences per backward pass.
    :param device: ``"auto"``, ``"cpu"``, ``"cuda"``.
    :param cache_dir: directory for cached gradient features.
    :param model_key: a string identifying the weights, for the cache key (skips hashing them).
    :param progress: None, True (tqdm) or a ``(done, total)`` callable.
    """
    if model is None or validation is None:
        raise ValueError("strategy 'influence' needs model= (causal LM module or local path), tokenizer= and "
                         "validation= (rbic_fast.strategies.Validation of model answers marked correct/incorrect)")
    if optimizer is not None and adam_state is not None:
        raise ValueError("give optimizer= or adam_state=, not both")
    model, tokenizer = load_lm(model, tokenizer, device)
    if lora is not None:
        model = add_lora(model, seed=seed, **dict(lora))  # peft injects the adapters into the model in place
    try:
        if optimizer is not None:
            adam_state = adam_moments(model, optimizer)
        common = {"modules": modules, "dim": dim, "seed": seed, "kind": kind, "max_length": max_length,
                  "batch_size": batch_size, "cache_dir": cache_dir, "model_key": model_key, "progress": progress}
        if lora is not None and model_key is not None:
            common["model_key"] = f"{model_key}+lora{sorted(dict(lora).items())}+seed{seed}"
        prompts, answers = format_pairs(inp)
        train = lm_gradient_features(model, tokenizer, prompts, answers, adam_state=adam_state, **common)
        val_prompts = [PROMPT_TEMPLATE.format(question=q) for q in validation.question]
        val = lm_gradient_features(model, tokenizer, val_prompts, validation.answer, **common)
    finally:
        if lora is not None:
            model.unload()  # give the caller's model back without the adapters
    scores = influence_scores(train.features, val.features, validation.correct, scoring=scoring, damping=damping)
    return pruning_order(scores, rule)


__all__ = [
    "GradientFeatures",
    "InfluenceScores",
    "RandomProjector",
    "Validation",
    "adam_moments",
    "add_lora",
    "combine_checkpoints",
    "gradient_features",
    "influence_scores",
    "lm_gradient_features",
    "math_verify_check",
    "per_example_gradients",
    "pruning_order",
    "target_modules",
]
