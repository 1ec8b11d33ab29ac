// Uses the installed library: a tensor, one operator, and prints a value the test checks.
#include <axonseg/axonseg.hpp>

#include <cstdio>

int main() {
    axonseg::Tensor<float> x({1, 1, 2, 2, 2}), y({1, 1, 2, 2, 2});
    for (axonseg::Index i = 0; i < x.numel(); ++i) x.data()[i] = float(i) - 4.0f;
    axonseg::leaky_relu_forward(axonseg::cpu, x, y);
    std::printf("%.2f %.2f\n", double(y.data()[0]), double(y.data()[7]));
    return (y.data()[0] == -0.04f && y.data()[7] == 3.0f) ? 0 : 1;
}
