// Issue rate of the dot-product instructions the kNN kernels can use, on this CPU: 12 independent register
// accumulators per instruction (inline asm, so the compiler cannot spill or fold them), one thread.
// Prints instructions/ns and multiply-adds/ns (vfmadd231ps 16 per instruction, vdpbf16ps 32, vpdpbusd 64,
// vfmadd231ph 32). Needs a CPU with AVX512_BF16, AVX512_VNNI and AVX512_FP16 (Sapphire Rapids or later).
//
//   g++ -O2 bench/isa_rates.cpp -o /tmp/isa_rates && /tmp/isa_rates
#include <chrono>
#include <cstdio>
constexpr long ITERS = 20000000;  // x 12 instructions
#define R12(op) op " %%zmm1, %%zmm2, %%zmm4\n" op " %%zmm1, %%zmm2, %%zmm5\n" op " %%zmm1, %%zmm2, %%zmm6\n" \
  op " %%zmm1, %%zmm2, %%zmm7\n" op " %%zmm1, %%zmm2, %%zmm8\n" op " %%zmm1, %%zmm2, %%zmm9\n" \
  op " %%zmm1, %%zmm2, %%zmm10\n" op " %%zmm1, %%zmm2, %%zmm11\n" op " %%zmm1, %%zmm2, %%zmm12\n" \
  op " %%zmm1, %%zmm2, %%zmm13\n" op " %%zmm1, %%zmm2, %%zmm14\n" op " %%zmm1, %%zmm2, %%zmm15\n"
#define LOOP(name, op) double name() { auto t = std::chrono::steady_clock::now(); \
  for (long i = 0; i < ITERS; ++i) asm volatile(R12(op) ::: "xmm4","xmm5","xmm6","xmm7","xmm8","xmm9","xmm10","xmm11","xmm12","xmm13","xmm14","xmm15"); \
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count(); }
LOOP(fma_ps, "vfmadd231ps")
LOOP(dpbf16ps, "vdpbf16ps")
LOOP(dpbusd, "vpdpbusd")
LOOP(fma_ph, "vfmadd231ph")
int main() {
  asm volatile("vpxord %%zmm1, %%zmm1, %%zmm1\n vpxord %%zmm2, %%zmm2, %%zmm2" ::: "xmm1", "xmm2");
  const double n = 12.0 * ITERS;
  for (int rep = 0; rep < 3; ++rep) {
    double a = fma_ps(), b = dpbf16ps(), c = dpbusd(), d = fma_ph();
    std::printf("instr/ns: vfmadd231ps %.2f vdpbf16ps %.2f vpdpbusd %.2f vfmadd231ph %.2f | MAC/ns: %.1f %.1f %.1f %.1f\n",
                n / a / 1e9, n / b / 1e9, n / c / 1e9, n / d / 1e9, 16 * n / a / 1e9, 32 * n / b / 1e9, 64 * n / c / 1e9, 32 * n / d / 1e9);
  }
}
