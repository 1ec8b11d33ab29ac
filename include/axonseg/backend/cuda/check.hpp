// Status checks for CUDA runtime calls, used only inside kernels/*.cu and backend/cuda/.
// Each failure keeps the call's text, so "cudaMalloc(&p, bytes) failed: out of memory" is what
// the user reads. Destructors must not throw: they use AXONSEG_CUDA_WARN, which only prints.
#pragma once

#include "axonseg/core/error.hpp"

#include <cuda_runtime.h>

#include <cstdio>

#define AXONSEG_CUDA_CHECK(call)                                                               \
    do {                                                                                       \
        const cudaError_t axonseg_status_ = (call);                                            \
        if (axonseg_status_ != cudaSuccess)                                                    \
            AXONSEG_FAIL("cuda: ", #call, " failed: ", cudaGetErrorString(axonseg_status_),    \
                         " (", __FILE__, ":", __LINE__, ")");                                  \
    } while (0)

#define AXONSEG_CUDA_WARN(call)                                                                \
    do {                                                                                       \
        const cudaError_t axonseg_status_ = (call);                                            \
        if (axonseg_status_ != cudaSuccess)                                                    \
            std::fprintf(stderr, "axonseg: warning: %s failed: %s\n", #call,                   \
                         cudaGetErrorString(axonseg_status_));                                 \
    } while (0)
