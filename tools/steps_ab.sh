#!/usr/bin/env bash
# Compare two source trees of the native trace parser (e.g. a git worktree of main and your working tree):
# builds tools/steps_driver.cpp against each tree's csrc/, then alternates the two builds ROUNDS times on the
# same corpus (one thread, best of 2 parses per run) and prints each build's MB per CPU-second, the median of
# the per-round speed ratios B/A, and whether the features agree. Alternating short runs side by side is what
# makes a ratio trustworthy on a shared machine; absolute MB/s still move with the load.
# Usage: tools/steps_ab.sh TREE_A TREE_B [ROUNDS=7] [MB=60]   (corpus: tools/steps_bench_corpus.real_traces)
set -euo pipefail
cd "$(dirname "$0")/.."
a=$(realpath "$1"); b=$(realpath "$2"); rounds=${3:-7}; mb=${4:-60}
out=build/steps_ab
mkdir -p "$out"
for side in a b; do
  tree=${!side}
  g++ -std=c++17 -O3 -DNDEBUG -fopenmp -DRBIC_VERSION='"ab"' -I"$tree/csrc/include" -I"$tree/csrc/core" \
    tools/steps_driver.cpp "$tree"/csrc/core/steps*.cpp "$tree/csrc/core/parallel.cpp" "$tree/csrc/core/build_info.cpp" \
    -o "$out/driver_$side"
done
PYTHONPATH=python:tools python - "$out" "$mb" <<'PY'
import importlib, sys
import numpy as np
from steps_bench_corpus import real_traces, replicate
steps = importlib.import_module("rbic_fast.steps")
out, mb = sys.argv[1], float(sys.argv[2])
with open(f"{out}/rules.txt", "wb") as fh:
    for pat, cat, initial, fol, not_fol, not_pre, setvar in steps._lexicon_arrays(steps.load_lexicon(None)):
        fields = [pat, b"%d" % cat, b"%d" % initial, fol, b"\x1e".join(not_fol), b"\x1e".join(not_pre), b"%d" % setvar]
        fh.write(b"\x1f".join(fields) + b"\n")
data, offsets, _ = steps._arrow_buffers(replicate(real_traces(), int(mb * 1e6)))
np.asarray(data).tofile(f"{out}/data.bin")
np.asarray(offsets, dtype=np.int64).tofile(f"{out}/offsets.bin")
PY
results=()
for _ in $(seq "$rounds"); do
  for side in a b; do
    results+=("$side $("$out/driver_$side" "$out/rules.txt" "$out/data.bin" "$out/offsets.bin" 2)")
  done
done
printf '%s\n' "${results[@]}" | python3 -c '
import statistics, sys
rows = [line.split() for line in sys.stdin]
a = [float(r[1]) for r in rows if r[0] == "a"]; b = [float(r[1]) for r in rows if r[0] == "b"]
agree = len({r[2] for r in rows}) == 1
print("A MB/CPU-s:", " ".join(f"{x:.0f}" for x in a)); print("B MB/CPU-s:", " ".join(f"{x:.0f}" for x in b))
ratio = statistics.median(y / x for x, y in zip(a, b))
print(f"median A {statistics.median(a):.1f}, B {statistics.median(b):.1f}; median per-round ratio B/A {ratio:.3f};",
      "features agree" if agree else "features DIFFER")'
uptime
