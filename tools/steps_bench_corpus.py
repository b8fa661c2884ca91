"""Benchmark corpora for the trace parser: real traces replicated to a size, and synthetic long R1-style traces.

Real traces come from ../shared/data when present (R1 sets, GSM8K, MATH, the Chinese sets), otherwise from the
committed excerpts in tests/data/steps. Corpora are pyarrow large_string arrays built in memory by tiling the
buffers (no Python string per row).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from steps_corpus import dataset_texts

SHARED = Path(os.environ.get("RBIC_SHARED_DATA", "/work/shared/data"))
EXCERPTS = Path(__file__).parents[1] / "tests" / "data" / "steps"
# Fields that hold reasoning (or, for the Chinese equation sets, problem text and equation).
TRACE_FIELDS = {"reasoning", "reason", "answer", "solution", "response", "rationale", "original_text", "equation"}
TRACE_FIELDS |= {f"{m}.solution" for m in ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")}


def real_traces_by_dataset() -> dict[str, list[str]]:
    """Reasoning texts of every dataset (R1 traces, GSM8K, MATH, AQuA, Ape210K, Math23K...), by dataset folder."""
    root = SHARED if SHARED.is_dir() else EXCERPTS
    out: dict[str, list[str]] = {}
    for where, field, t in dataset_texts(root):
        if field in TRACE_FIELDS and t:
            out.setdefault(Path(where).parts[0], []).append(t)
    return out


def real_traces() -> list[str]:
    """Reasoning texts of every dataset, in the order of their files."""
    return [t for texts in real_traces_by_dataset().values() for t in texts]


def synthetic_r1(n_traces: int, chars: int, seed: int = 0) -> list[str]:
    """Long R1-style traces: <think> paragraphs with markers, equations, LaTeX and some Chinese."""
    rng = np.random.default_rng(seed)
    parts = [
        "Okay, let's see. We need to find x such that {a}x + {b} = {c}.",
        "First, subtract {b} from both sides: {a}x = {d}. So x = {d}/{a}.",
        "Wait, let me check that again. {a} * {e} = {f}, which is not {d}. Hmm.",
        "Alternatively, maybe we can write $x = \\frac{{{d}}}{{{a}}}$ and simplify.",
        "But wait, the problem says the answer is an integer. Let me verify: $${a}x+{b}={c}$$",
        "Therefore, x = {e}. Actually, on second thought, I made a mistake in step {a}.",
        "因此，设y为总数，则y={c}。等等，不对，应该是y={f}。所以答案是{f}。",
        "Step {a}: compute {b} + {c} = {g}. Then the total is {g}.",
    ]
    out = []
    for _ in range(n_traces):
        paras, size = [], 0
        while size < chars:
            a, b, c = (int(v) for v in rng.integers(1, 999, 3))
            p = parts[int(rng.integers(len(parts)))].format(a=a, b=b, c=c, d=c - b, e=(c - b) // a, f=a * ((c - b) // a),
                                                            g=b + c)
            paras.append(p)
            size += len(p) + 2
        out.append("<think>\n" + "\n\n".join(paras) + "\n</think>\n\nThe answer is $\\boxed{42}$.")
    return out


def replicate(texts: list[str], target_bytes: int):
    """A pyarrow large_string array holding `texts` repeated until it has at least target_bytes of text."""
    import pyarrow as pa

    base = pa.array(texts, type=pa.large_string())
    data = np.frombuffer(base.buffers()[2], dtype=np.uint8)
    offsets = np.frombuffer(base.buffers()[1], dtype=np.int64)[: len(base) + 1]
    reps = max(1, -(-target_bytes // max(1, len(data))))
    big = np.tile(data, reps)
    all_offsets = (offsets[:-1][None, :] + (np.arange(reps, dtype=np.int64) * len(data))[:, None]).ravel()
    all_offsets = np.append(all_offsets, reps * len(data))
    return pa.Array.from_buffers(pa.large_string(), len(all_offsets) - 1,
                                 [None, pa.py_buffer(all_offsets), pa.py_buffer(big)])
