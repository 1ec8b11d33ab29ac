// Embedding axonseg in a few lines: make a channels-last activation, run an operator on the CPU,
// and catch the library's error type. Build: link axonseg::axonseg (find_package(axonseg)).
#include <axonseg/axonseg.hpp>

#include <cstdio>

int main() {
    using namespace axonseg;
    try {
        Tensor<float> x({1, 2, 4, 4, 4}, Layout::channels_last);  // (N,C,D,H,W), stored NDHWC
        for (Index i = 0; i < x.numel(); ++i) x.data()[i] = float(i % 7) - 3.0f;
        Tensor<float> y(x.shape(), Layout::channels_last);
        leaky_relu_forward(cpu, x, y);
        std::printf("x(0,1,3,3,3) = %g -> y = %g\n", double(x(0, 1, 3, 3, 3)), double(y(0, 1, 3, 3, 3)));

        Tensor<float> wrong({1, 2, 4, 4, 5});
        leaky_relu_forward(cpu, x, wrong);  // throws: the shapes differ
    } catch (const Error& e) {
        std::printf("axonseg error: %s\n", e.what());
    }
    return 0;
}
