// Uses the installed library, built without -march=native as a consumer might: a tensor, one
// operator, and the high-pass response (whose AVX-512 kernel is chosen at run time, so its
// headers must compile for any x86-64 target); prints values the test checks.
#include <axonseg/axonseg.hpp>

#include <cstdio>

int main() {
    axonseg::Tensor<float> x({1, 1, 2, 2, 2}), y({1, 1, 2, 2, 2});
    for (axonseg::Index i = 0; i < x.numel(); ++i) x.data()[i] = float(i) - 4.0f;
    axonseg::leaky_relu_forward(axonseg::cpu, x, y);
    // One bright voxel: its blur is centre^2 * 900 = 100.26, so its label is 799; its neighbour
    // along y sees side * centre * 900 = 100.07 and gets 0.
    auto cube = axonseg::Tensor<std::uint16_t>::zeros({3, 4, 20});
    cube(1, 2, 17) = 900;
    const axonseg::Tensor<std::uint16_t> label = axonseg::prep::high_pass_response(cube);
    std::printf("%.2f %.2f %d %d\n", double(y.data()[0]), double(y.data()[7]), int(label(1, 2, 17)),
                int(label(1, 1, 17)));
    const bool ok = y.data()[0] == -0.04f && y.data()[7] == 3.0f && label(1, 2, 17) == 799 && label(1, 1, 17) == 0;
    return ok ? 0 : 1;
}
