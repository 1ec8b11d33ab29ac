// The host caching allocator: blocks are reused, aligned, and accounted for.
#include "support/checks.hpp"

#include "axonseg/core/memory.hpp"

using namespace axonseg;

TEST_CASE("a released block is handed out again for a request of the same rounded size") {
    HostPool& pool = HostPool::instance();
    pool.trim();
    const PoolStats before = pool.stats();
    void* a = pool.allocate(3 << 20);
    CHECK(reinterpret_cast<std::uintptr_t>(a) % 64 == 0);
    pool.release(a, 3 << 20);
    void* b = pool.allocate((3 << 20) + 100);  // rounds to the same 4 MiB block
    CHECK(a == b);
    const PoolStats after = pool.stats();
    CHECK(after.reused_allocations == before.reused_allocations + 1);
    CHECK(after.fresh_allocations == before.fresh_allocations + 1);
    CHECK(after.bytes_in_use - before.bytes_in_use == HostPool::block_size(3 << 20));
    pool.release(b, (3 << 20) + 100);
    pool.trim();
    CHECK(pool.stats().bytes_cached == 0);
}

TEST_CASE("block sizes round up, small to 4 KiB and large to 2 MiB, never below the request") {
    for (std::size_t bytes : {std::size_t(1), std::size_t(4095), std::size_t(4097), std::size_t(2 << 20),
                              std::size_t((2 << 20) + 1), std::size_t(268435456)}) {
        const std::size_t b = HostPool::block_size(bytes);
        CHECK(b >= bytes);
        CHECK(b - bytes < (bytes >= (2u << 20) ? (2u << 20) : 4096u));
    }
}

TEST_CASE("tensors return their memory to the pool") {
    HostPool& pool = HostPool::instance();
    const std::size_t in_use = pool.stats().bytes_in_use;
    {
        Tensor<float> t({32, 64, 64});
        CHECK(pool.stats().bytes_in_use > in_use);
    }
    CHECK(pool.stats().bytes_in_use == in_use);
}
