#!/usr/bin/env bash
# Fuzz the native trace parser with libFuzzer under AddressSanitizer + UndefinedBehaviorSanitizer.
# Usage: tools/fuzz_steps.sh [seconds]   (default 60; CI runs the default, run longer by hand, e.g. 1800)
# Installs clang with apt-get when it is missing (Debian/Ubuntu, as root). The corpus is seeded with the
# golden traces and the dataset excerpts; crashes are written to build/fuzz/ (crash-*) and fail the run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
if ! command -v clang++ >/dev/null 2>&1 || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "fuzz_steps: installing clang (libFuzzer)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang libclang-rt-dev >/dev/null
fi
out=build/fuzz
mkdir -p "$out/corpus"
clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_GLIBCXX_ASSERTIONS \
  -fno-omit-frame-pointer -Icsrc/include -Icsrc/core -DRBIC_VERSION='"fuzz"' \
  fuzz/fuzz_steps.cpp csrc/core/steps.cpp csrc/core/steps_automaton.cpp csrc/core/steps_kernels.cpp \
  csrc/core/steps_kernels_avx512.cpp csrc/core/build_info.cpp csrc/core/parallel.cpp \
  -o "$out/fuzz_steps"
# Seed corpus: one file per golden trace and per dataset record (mode byte 0 = one row).
python3 - "$out/corpus" <<'PY'
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
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
"$out/fuzz_steps" "$out/corpus" -max_total_time="$seconds" -max_len=65536 -len_control=0 -timeout=20 -rss_limit_mb=2048 \
  -artifact_prefix="$out/" -print_final_stats=1
