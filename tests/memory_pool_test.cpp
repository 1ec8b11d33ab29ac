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

TEST_CASE("a request takes the smallest cached block that fits, up to twice its size") {
    HostPool& pool = HostPool::instance();
    pool.trim();
    const std::size_t MiB = 1 << 20;
    void* big = pool.allocate(20 * MiB);
    void* mid = pool.allocate(8 * MiB);
    void* small = pool.allocate(6 * MiB);
    pool.release(big, 20 * MiB);
    pool.release(mid, 8 * MiB);
    pool.release(small, 6 * MiB);
    const PoolStats before = pool.stats();
    void* a = pool.allocate(5 * MiB);  // 6 MiB is the best fit
    CHECK(a == small);
    void* b = pool.allocate(5 * MiB);  // then 8 MiB (<= 10 MiB); 20 MiB is too big to waste
    CHECK(b == mid);
    CHECK(pool.stats().bytes_in_use - before.bytes_in_use == 14 * MiB);  // the blocks' real sizes
    void* c = pool.allocate(5 * MiB);
    CHECK(c != big);
    CHECK(pool.stats().fresh_allocations == before.fresh_allocations + 1);
    pool.release(b, 5 * MiB);  // accounted at the block's 8 MiB, not the request's
    CHECK(pool.stats().bytes_in_use - before.bytes_in_use == 6 * MiB + HostPool::block_size(5 * MiB));
    pool.release(a, 5 * MiB);
    pool.release(c, 5 * MiB);
    int not_ours = 0;
    CHECK_THROWS_WITH_AS(pool.release(&not_ours, 4), doctest::Contains("which the host pool did not hand out"), Error);
    pool.trim();
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
