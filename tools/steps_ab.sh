#!/usr/bin/env bash
# Compare two source trees of the native trace parser (e.g. a git worktree of main and your working tree) in one
# process: tools/steps_ab_inproc.cpp is built with tree A's csrc/ under namespace rbic_a and tree B's under rbic_b,
# then the two parsers alternate parse by parse on the same bytes (one thread, CPU time). It prints each side's
# best MB per CPU-second, the median and quartiles of the per-pair speed ratios B/A, and whether the outputs agree
# (exit status 1 if not). Pairs of parses a fraction of a second apart see the same machine load: on the shared
# development VM the median resolves about 1 % (a tree against itself: 0.99-1.01), where alternating whole
# processes resolved about 5 %.
# Usage: tools/steps_ab.sh TREE_A TREE_B [PAIRS=30] [MB=60] [DATA OFFSETS]
#   Corpus: tools/steps_bench_corpus.real_traces replicated to MB, or DATA (UTF-8 bytes) with OFFSETS (n + 1
#   little-endian int64). RBIC_STEPS_ISA picks the kernels of both sides (default auto), or of each side as
#   ISA_A,ISA_B (e.g. RBIC_STEPS_ISA=portable,avx2 tools/steps_ab.sh . . compares kernel sets); STEPS_AB_FLAGS_A and
#   STEPS_AB_FLAGS_B add compiler flags to one side, STEPS_AB_CXX_A and STEPS_AB_CXX_B pick its compiler (default
#   g++; to compare flags or compilers on one tree: tools/steps_ab.sh . .).
set -euo pipefail
cd "$(dirname "$0")/.."
a=$(realpath "$1"); b=$(realpath "$2"); pairs=${3:-30}; mb=${4:-60}
out=build/steps_ab
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags=(-std=c++17 -O3 -DNDEBUG -fopenmp -DRBIC_VERSION='"ab"')
for side in a b; do
  tree=${!side}
  # The public headers of each tree, included under its namespace: copies that include each other by relative
  # path, each marked apart (GCC's #pragma once takes files of equal content and time for one file).
  mkdir -p "$tmp/include_$side"
  for h in "$tree"/csrc/include/rbic/*.hpp; do
    sed 's|#include "rbic/|#include "|' "$h" > "$tmp/include_$side/$(basename "$h")"
    echo "// tree $side" >> "$tmp/include_$side/$(basename "$h")"
  done
  for f in "$tree"/csrc/core/steps*.cpp "$tree/csrc/core/parallel.cpp" "$tree/csrc/core/build_info.cpp"; do
    extra=STEPS_AB_FLAGS_${side^^}
    cxx=STEPS_AB_CXX_${side^^}
    # shellcheck disable=SC2086
    "${!cxx:-g++}" "${flags[@]}" ${!extra:-} -Drbic=rbic_$side -I"$tree/csrc/include" -I"$tree/csrc/core" -c "$f" \
      -o "$tmp/${side}_$(basename "$f" .cpp).o" &
  done
done
wait
printf '#pragma once\n#define rbic rbic_a\n#include "include_a/steps.hpp"\n#undef rbic\n#define rbic rbic_b\n#include "include_b/steps.hpp"\n#undef rbic\n' \
  > "$tmp/steps_ab_decl.hpp"
g++ "${flags[@]}" -I"$tmp" tools/steps_ab_inproc.cpp "$tmp"/*.o -o "$out/steps_ab_inproc"
if [ $# -ge 6 ]; then
  data=$5; offsets=$6
else
  data=$out/data.bin; offsets=$out/offsets.bin
fi
PYTHONPATH=python:tools python - "$out" "$mb" "$([ $# -ge 6 ] && echo keep || echo write)" <<'PY'
import importlib, sys
import numpy as np
from steps_bench_corpus import real_traces, replicate
steps = importlib.import_module("rbic_fast.steps")
out, mb, corpus = sys.argv[1], float(sys.argv[2]), sys.argv[3]
with open(f"{out}/rules.txt", "wb") as fh:
    for pat, cat, initial, fol, not_fol, not_pre, setvar in steps._lexicon_arrays(steps.load_lexicon(None)):
        fields = [pat, b"%d" % cat, b"%d" % initial, fol, b"\x1e".join(not_fol), b"\x1e".join(not_pre), b"%d" % setvar]
        fh.write(b"\x1f".join(fields) + b"\n")
if corpus == "write":
    data, offsets, _ = steps._arrow_buffers(replicate(real_traces(), int(mb * 1e6)))
    np.asarray(data).tofile(f"{out}/data.bin")
    np.asarray(offsets, dtype=np.int64).tofile(f"{out}/offsets.bin")
PY
"$out/steps_ab_inproc" "$out/rules.txt" "$data" "$offsets" "$pairs" "${RBIC_STEPS_ISA:-auto}"
uptime
