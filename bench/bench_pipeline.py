"""The Python stages of `rbic refine` around the kernels: streaming load + normalise + parse (GSM8K, and the
synthetic R1 corpus in its SFT and raw layouts), contribution and selection, and a re-selection from a warm cache
(what `rbic refine ... --count N` costs on a second run).

Sizes: RBIC_BENCH_N records (default 20000); selection runs at 10x that (it is the only O(n log n) Python stage
that must stay cheap at a million records).
"""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import BENCH_N
from rbic_fast.budget import Budget
from rbic_fast.contribution import inference_contribution, logical_complexity
from rbic_fast.io import Normalizer, open_source
from rbic_fast.pipeline import RefineConfig, load_dataset, refine
from rbic_fast.select import select_rbic
from rbic_fast.steps import FEATURE_COLUMNS
from rbic_fast.synthetic import write_corpus

GSM8K = Path(__file__).resolve().parents[1] / "examples" / "gsm8k_train_250.jsonl"


@pytest.fixture(scope="module")
def jsonl(tmp_path_factory) -> Path:
    """BENCH_N GSM8K records (the 250 shipped ones repeated with fresh ids)."""
    recs = [json.loads(line) for line in GSM8K.read_text().splitlines()]
    path = tmp_path_factory.mktemp("bench") / "data.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps({"id": i, **recs[i % len(recs)]}) + "\n" for i in range(BENCH_N))
    return path


def test_load_normalise_parse(benchmark, jsonl):
    loaded = benchmark.pedantic(
        load_dataset, args=(open_source(jsonl), RefineConfig(ratio=0.1)), rounds=3, warmup_rounds=1
    )
    assert len(loaded) == BENCH_N


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> dict[str, Path]:
    """BENCH_N synthetic R1 records in both layouts (same seed, so the same traces)."""
    folder = tmp_path_factory.mktemp("synth")
    return {f: write_corpus(folder / f"{f}.jsonl", BENCH_N, seed=0, record_format=f).path for f in ("sft", "raw")}


@pytest.mark.parametrize("layout", ["sft", "sft-record-path", "raw"])
def test_load_synthetic(benchmark, synthetic, layout, monkeypatch):
    """Pass 1 on the synthetic corpus: the SFT layout (its ``<think>`` column split column-wise), the same forced
    through the record-by-record path it took before, and the raw layout (the reasoning in a column of its own)."""
    if layout == "sft-record-path":
        monkeypatch.setattr(Normalizer, "think_key", property(lambda self: None))
    path = synthetic[layout.split("-")[0]]
    loaded = benchmark.pedantic(
        load_dataset, args=(open_source(path), RefineConfig(ratio=0.1)), rounds=3, warmup_rounds=1
    )
    assert len(loaded) == BENCH_N


def test_contribution_and_selection(benchmark):
    n = 10 * BENCH_N
    rng = np.random.default_rng(0)
    domain = rng.integers(0, n // 500, n)
    feats = {
        k: rng.integers(0, 40, n)
        for k in FEATURE_COLUMNS
    }
    feats["redundancy"] = rng.random(n).astype(np.float32)
    tier = rng.integers(0, 5, n)
    tokens = rng.integers(50, 4000, n)
    neighbors = rng.integers(0, n, (n, 16))
    sims = rng.random((n, 16)).astype(np.float32)

    def run():
        lc = logical_complexity(feats, domain)
        ic = inference_contribution(lc, rng.random(n), rng.random(n))
        return select_rbic(
            domain, tier, ic, tokens, Budget(ratio=0.16), neighbors=neighbors, similarities=sims
        )

    sel = benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    assert sel.keep.sum() == round(0.16 * n)


def test_reselect_from_cache(benchmark, jsonl, tmp_path):
    emb = np.random.default_rng(0).standard_normal((BENCH_N, 64)).astype(np.float32)
    np.save(tmp_path / "emb.npy", emb)
    kw = {"embeddings": str(tmp_path / "emb.npy"), "out": tmp_path / "out"}
    refine(jsonl, ratio=0.16, **kw)  # fills the cache
    res = benchmark.pedantic(refine, args=(jsonl,), kwargs={"count": 100, **kw}, rounds=3, warmup_rounds=0)
    assert {"load", "graph"} <= set(res.summary["cached_stages"])
