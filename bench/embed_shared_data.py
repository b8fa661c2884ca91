"""Embed the questions of real reasoning datasets with the packaged all-MiniLM-L6-v2 (needs ``.[embed]``), for the
community benchmark on real embeddings: writes build/bench_cache/real_<name>.npy.

Usage: PYTHONPATH=python python bench/embed_shared_data.py [--data ../shared/data]
Then:  PYTHONPATH=python python bench/compare_community.py --graph real:gsm8k_math
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from community_data import CACHE
from rbic_fast.embed import Embedder

# name -> (files under the data folder, question field)
SETS = {
    "gsm8k_math": [("gsm8k/train.jsonl", "question"), ("gsm8k/test.jsonl", "question"),
                   ("math_test4500/test4500.jsonl", "problem")],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    args = ap.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    emb = Embedder()
    for name, files in SETS.items():
        texts = []
        for rel, field in files:
            with open(Path(args.data) / rel, encoding="utf-8") as f:
                texts += [json.loads(line)[field] for line in f if line.strip()]
        t = time.perf_counter()
        x = emb.encode(texts, progress=True)
        np.save(CACHE / f"real_{name}.npy", x.astype(np.float32))
        print(f"{name}: {x.shape} in {time.perf_counter() - t:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
