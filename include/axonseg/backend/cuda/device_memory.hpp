// Device memory and host<->device copies for the CUDA backend. Declarations only: the definitions
// live in kernels/device_memory.cu, so nothing outside backend/ and kernels/ sees a CUDA header.
// Built without CUDA, every function here throws a clear axonseg::Error, except
// cuda_device_count(), which returns 0 so that tests and callers can skip or fall back.
#pragma once

#include "axonseg/config.hpp"
#include "axonseg/core/error.hpp"

#include <cstddef>

namespace axonseg {

enum class CopyKind { host_to_device, device_to_host, device_to_device };

#if AXONSEG_WITH_CUDA
// Number of usable CUDA devices; 0 when there is no driver or no GPU (never throws).
int cuda_device_count();
// Caching allocator: requires bytes > 0; ensures a 256-byte aligned block from the pool.
void* cuda_pool_allocate(std::size_t bytes);
void cuda_pool_release(void* p, std::size_t bytes) noexcept;
// Returns every cached block to the driver.
void cuda_pool_trim();
// Synchronous copy of `bytes` bytes.
void cuda_copy(void* dst, const void* src, std::size_t bytes, CopyKind kind);
// Sets `count` elements of `element_bytes` (1, 2, 4 or 8) to the bit pattern `pattern`.
void cuda_fill(void* dst, std::size_t count, std::size_t element_bytes, unsigned long long pattern);
#else
inline int cuda_device_count() { return 0; }
[[noreturn]] inline void cuda_unavailable(const char* what) {
    AXONSEG_FAIL(what, ": axonseg was built without CUDA (configure with -DAXONSEG_WITH_CUDA=ON "
                       "on a machine with nvcc and cuDNN)");
}
inline void* cuda_pool_allocate(std::size_t) { cuda_unavailable("cuda_pool_allocate"); }
inline void cuda_pool_release(void*, std::size_t) noexcept {}
inline void cuda_pool_trim() {}
inline void cuda_copy(void*, const void*, std::size_t, CopyKind) { cuda_unavailable("cuda_copy"); }
inline void cuda_fill(void*, std::size_t, std::size_t, unsigned long long) {
    cuda_unavailable("cuda_fill");
}
#endif

}  // namespace axonseg
