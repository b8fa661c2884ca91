#include "rbic/build_info.hpp"

#ifdef RBIC_WITH_OPENMP
#include <omp.h>
#endif

namespace rbic {

#ifdef RBIC_WITH_CUDA
int cuda_device_count();  // csrc/cuda/device.cu
#endif

bool cpu_has_avx2_fma() {
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

bool cpu_has_avx2() {
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
#else
    return false;
#endif
}

bool cpu_has_avx512() {
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
    return false;
#endif
}

bool cpu_has_avx512_bf16() {
#if defined(__x86_64__) || defined(__i386__)
    return cpu_has_avx512() && __builtin_cpu_supports("avx512bf16");
#else
    return false;
#endif
}

bool cpu_has_avx512_vnni() {
#if defined(__x86_64__) || defined(__i386__)
    return cpu_has_avx512() && __builtin_cpu_supports("avx512vnni");
#else
    return false;
#endif
}

BuildInfo build_info() {
    BuildInfo info;
    info.version = RBIC_VERSION;
    if (cpu_has_avx2_fma()) info.cpu_features.push_back("avx2+fma");
    if (cpu_has_avx512()) info.cpu_features.push_back("avx512");
    if (cpu_has_avx512_bf16()) info.cpu_features.push_back("avx512_bf16");
    if (cpu_has_avx512_vnni()) info.cpu_features.push_back("avx512_vnni");
    info.simd = cpu_has_avx512() ? "avx512" : cpu_has_avx2_fma() ? "avx2" : "scalar";
#ifdef RBIC_WITH_OPENMP
    info.openmp = true;
    info.openmp_max_threads = omp_get_max_threads();
#endif
#ifdef RBIC_WITH_CUDA
    info.cuda = true;
    info.cuda_arch = RBIC_CUDA_ARCHS;
    info.cuda_devices = cuda_device_count();
#endif
    return info;
}

}  // namespace rbic
