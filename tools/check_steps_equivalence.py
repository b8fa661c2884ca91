"""Compare the native trace parser with the pure-Python reference on every text of a dataset folder.

Usage: PYTHONPATH=python:tools python tools/check_steps_equivalence.py [/work/shared/data]
Prints the number of texts compared and every disagreement (feature by feature, and the steps); exits 1 on any.
"""

from __future__ import annotations

import sys

import numpy as np
import rbic_fast
from rbic_fast import reference
from steps_corpus import dataset_texts


def main(root: str) -> int:
    rows = list(dataset_texts(root))
    texts = [t for _, _, t in rows]
    native = rbic_fast.parse_traces(texts)
    ref = reference.parse_traces(texts)
    bad = 0
    for name, col in native.columns().items():
        other = getattr(ref, name)
        for i in np.flatnonzero(col != other)[:20]:
            print(f"{rows[i][0]} {rows[i][1]}: {name} native={col[i]} reference={other[i]}")
        bad += int(np.count_nonzero(col != other))
    step_bad = sum(1 for t in texts if rbic_fast.steps(t) != reference.steps(t))
    print(f"compared {len(texts)} texts ({sum(map(len, texts))} chars) from {root}: "
          f"{bad} feature disagreements, {step_bad} segmentation disagreements")
    return 1 if bad or step_bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data"))
