// What this build of the core contains, for rbic_fast.build_info().
#pragma once

#include <string>
#include <vector>

namespace rbic {

struct BuildInfo {
    std::string version;
    std::string simd;          ///< best SIMD level the CPU kernels use on this CPU (run-time dispatch)
    std::vector<std::string> cpu_features;  ///< relevant ISA extensions detected on this CPU
    bool openmp = false;
    int openmp_max_threads = 1;
    bool cuda = false;          ///< CUDA kernels compiled in
    std::string cuda_arch;      ///< architectures compiled, comma-separated ("" without CUDA)
    int cuda_devices = 0;       ///< visible CUDA devices at run time (0 without CUDA or GPU)
};

BuildInfo build_info();

/// Run-time CPU feature checks used by the dispatching kernels.
bool cpu_has_avx2_fma();
bool cpu_has_avx2();        ///< AVX2 + POPCNT
bool cpu_has_avx512();      ///< AVX-512 F + BW + VL + DQ
bool cpu_has_avx512_bf16();
bool cpu_has_avx512_vnni();

}  // namespace rbic
