// Device memory: a round trip host -> device -> host and a fill, when a GPU is present. Without one
// the test prints "skipped: no CUDA device", which ctest reports as a skipped test.
#include "support/checks.hpp"

#include "axonseg/core/tensor.hpp"

using namespace axonseg;
using namespace axonseg::test;

TEST_CASE("cuda tensors round-trip through device memory") {
    AXONSEG_REQUIRE_CUDA_OR_SKIP();
    Tensor<float> host = random_tensor<float>({2, 3, 4, 5, 6}, 1, Layout::channels_last);
    Tensor<float, Cuda> dev = to<float, Cuda>(host);
    Tensor<float> back = to<float, Cpu>(dev);
    check_close(back.view(), host.view(), 0.0, "round trip");
    fill(dev.view(), 3.5f);
    Tensor<float> filled = to<float, Cpu>(dev);
    CHECK(filled.data()[17] == 3.5f);
}
