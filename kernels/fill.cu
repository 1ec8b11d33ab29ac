// Fills device memory with one element value, given as its bit pattern (so bfloat16, float and
// integers share one kernel per element width). A grid-stride loop covers any count.
#include "axonseg/backend/cuda/check.hpp"
#include "axonseg/backend/cuda/device_memory.hpp"

#include <cstdint>

namespace axonseg {
namespace {

template <class Word>
__global__ void fill_pattern_kernel(Word* dst, std::size_t count, Word pattern) {
    const std::size_t stride = std::size_t(gridDim.x) * blockDim.x;
    for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride)
        dst[i] = pattern;
}

template <class Word>
void launch_fill(void* dst, std::size_t count, unsigned long long pattern) {
    constexpr int threads = 256;
    const std::size_t wanted = (count + threads - 1) / threads;
    const int blocks = int(wanted < 65535 ? wanted : 65535);
    fill_pattern_kernel<Word><<<blocks, threads>>>(static_cast<Word*>(dst), count, Word(pattern));
    AXONSEG_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void cuda_fill(void* dst, std::size_t count, std::size_t element_bytes, unsigned long long pattern) {
    if (count == 0) return;
    switch (element_bytes) {
        case 1: launch_fill<std::uint8_t>(dst, count, pattern); break;
        case 2: launch_fill<std::uint16_t>(dst, count, pattern); break;
        case 4: launch_fill<std::uint32_t>(dst, count, pattern); break;
        case 8: launch_fill<std::uint64_t>(dst, count, pattern); break;
        default: AXONSEG_FAIL("cuda_fill: element size ", element_bytes, " is not 1, 2, 4 or 8");
    }
}

}  // namespace axonseg
