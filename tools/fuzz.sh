#!/usr/bin/env bash
# Fuzz a native kernel with libFuzzer under AddressSanitizer + UndefinedBehaviorSanitizer (and libstdc++'s checked
# containers, -D_GLIBCXX_ASSERTIONS).
# Usage: tools/fuzz.sh TARGET [seconds]   (default 60; CI runs each target briefly, run longer by hand, e.g. 1800)
#   steps: the trace parser (fuzz/fuzz_steps.cpp), seeded with the golden traces and the dataset excerpts;
#   graph: Leiden, modularity, centrality, propagation and knn_to_csr on small weighted graphs (fuzz/fuzz_graph.cpp);
#   knn: the exact (fp32, bf16, int8) and approximate (fp32, int8) kNN graphs on small matrices (fuzz/fuzz_knn.cpp).
# Installs clang with apt-get when it is missing (Debian/Ubuntu, as root). Crashes are written to build/fuzz/
# (crash-*) and fail the run; the corpus stays in build/fuzz/TARGET_corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: tools/fuzz.sh steps|graph|knn [seconds]}
seconds=${2:-60}
case "$target" in
  steps) sources="csrc/core/steps.cpp csrc/core/steps_automaton.cpp csrc/core/steps_kernels.cpp csrc/core/steps_kernels_avx512.cpp csrc/core/steps_kernels_avx2.cpp"
         max_len=65536 ;;
  graph) sources="csrc/core/community.cpp csrc/core/community_leiden.cpp csrc/core/graph.cpp csrc/core/propagate.cpp csrc/core/knn_csr.cpp"
         max_len=4096 ;;
  knn) sources="csrc/core/knn.cpp csrc/core/knn_approx.cpp csrc/core/knn_kernels_avx512.cpp csrc/core/knn_kernels_portable.cpp"
       max_len=8192 ;;
  *) echo "fuzz.sh: unknown target '$target' (steps, graph or knn)" >&2; exit 2 ;;
esac
if ! command -v clang++ >/dev/null 2>&1 || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "fuzz.sh: installing clang (libFuzzer)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang libclang-rt-dev >/dev/null
fi
out=build/fuzz
corpus="$out/${target}_corpus"
mkdir -p "$corpus"
# shellcheck disable=SC2086  # (the source list is split on purpose)
clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_GLIBCXX_ASSERTIONS \
  -fno-omit-frame-pointer -Icsrc/include -Icsrc/core -DRBIC_VERSION='"fuzz"' \
  "fuzz/fuzz_$target.cpp" $sources csrc/core/build_info.cpp csrc/core/parallel.cpp -o "$out/fuzz_$target"
if [ "$target" = steps ]; then
  # Seed corpus: one file per golden trace and per dataset record (mode byte 0 = one row).
  python3 - "$corpus" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
data = pathlib.Path("tests/data/steps")
seeds = [t["text"] for t in json.loads((data / "golden.json").read_text(encoding="utf-8"))["traces"]]
for path in sorted(data.rglob("*.jsonl")):
    for line in path.read_text(encoding="utf-8").splitlines()[:3]:
        seeds.extend(v for v in json.loads(line).values() if isinstance(v, str))
for i, s in enumerate(seeds):
    (out / f"seed{i:04d}").write_bytes(b"\x00" + s.encode("utf-8", "surrogatepass")[:20000])
PY
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
"$out/fuzz_$target" "$corpus" -max_total_time="$seconds" -max_len="$max_len" -len_control=0 -timeout=20 -rss_limit_mb=2048 \
  -artifact_prefix="$out/" -print_final_stats=1
