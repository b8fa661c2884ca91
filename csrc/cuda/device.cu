// CUDA runtime queries. The kernels themselves live beside this file (one .cu per area).
#include <cuda_runtime.h>

namespace rbic {

/// Number of usable CUDA devices; 0 when no driver or GPU is present (never throws).
int cuda_device_count() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky "no driver" error
        return 0;
    }
    return n;
}

}  // namespace rbic
