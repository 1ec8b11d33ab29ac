// Device memory for Tensor<T, Cuda>: a caching allocator over cudaMalloc, so that hot paths
// (every layer of every tile) never call cudaMalloc or cudaFree, which synchronise the device.
// Blocks are cached by rounded size; cuda_pool_trim() hands them back to the driver.
#include "axonseg/backend/cuda/check.hpp"
#include "axonseg/backend/cuda/device_memory.hpp"

#include <map>
#include <mutex>

namespace axonseg {
namespace {

class DevicePool {
public:
    static DevicePool& instance() {
        static DevicePool pool;
        return pool;
    }
    void* allocate(std::size_t bytes) {
        const std::size_t size = block_size(bytes);
        {
            std::lock_guard lock(m_mutex);
            auto it = m_free.find(size);
            if (it != m_free.end()) {
                void* p = it->second;
                m_free.erase(it);
                return p;
            }
        }
        void* p = nullptr;
        cudaError_t status = cudaMalloc(&p, size);
        if (status == cudaErrorMemoryAllocation) {  // free the cache once and try again
            cudaGetLastError();
            trim();
            status = cudaMalloc(&p, size);
        }
        if (status != cudaSuccess)
            AXONSEG_FAIL("cuda: cudaMalloc of ", size, " bytes failed: ", cudaGetErrorString(status));
        return p;
    }
    void release(void* p, std::size_t bytes) noexcept {
        std::lock_guard lock(m_mutex);
        m_free.emplace(block_size(bytes), p);
    }
    void trim() noexcept {
        std::lock_guard lock(m_mutex);
        for (auto& [size, p] : m_free) AXONSEG_CUDA_WARN(cudaFree(p));
        m_free.clear();
    }

private:
    static std::size_t block_size(std::size_t bytes) {
        constexpr std::size_t small = 512, large = std::size_t(2) << 20;
        const std::size_t unit = bytes >= large ? large : small;
        return (bytes + unit - 1) / unit * unit;
    }
    std::mutex m_mutex;
    std::multimap<std::size_t, void*> m_free;
};

cudaMemcpyKind to_cuda(CopyKind kind) {
    switch (kind) {
        case CopyKind::host_to_device: return cudaMemcpyHostToDevice;
        case CopyKind::device_to_host: return cudaMemcpyDeviceToHost;
        case CopyKind::device_to_device: return cudaMemcpyDeviceToDevice;
    }
    return cudaMemcpyDefault;
}

}  // namespace

int cuda_device_count() {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky "no device" error
        return 0;
    }
    return count;
}

void* cuda_pool_allocate(std::size_t bytes) { return DevicePool::instance().allocate(bytes); }
void cuda_pool_release(void* p, std::size_t bytes) noexcept {
    if (p) DevicePool::instance().release(p, bytes);
}
void cuda_pool_trim() { DevicePool::instance().trim(); }

void cuda_copy(void* dst, const void* src, std::size_t bytes, CopyKind kind) {
    if (bytes == 0) return;
    AXONSEG_CUDA_CHECK(cudaMemcpy(dst, src, bytes, to_cuda(kind)));
}

}  // namespace axonseg
