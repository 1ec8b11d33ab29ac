// Device and backend tags. A tag is an empty struct passed first to every operator:
// conv3d_forward(cpu, x, w, ...). The command line or the trainer turns `--device` into a tag at
// one place; no operator reads a global flag.
//   Reference  plain loops on the host: the specification every fast path is tested against
//   Cpu        host memory, oneDNN and vectorised OpenMP loops
//   Cuda       device memory, cuDNN and the kernels in kernels/
// A backend names the device whose memory it works on (Reference and Cpu both use host memory).
#pragma once

#include "axonseg/config.hpp"

#include <concepts>
#include <type_traits>

namespace axonseg {

struct Cpu {
    using device = Cpu;
    static constexpr const char* name = "cpu";
};
struct Cuda {
    using device = Cuda;
    static constexpr const char* name = "cuda";
};
struct Reference {
    using device = Cpu;
    static constexpr const char* name = "reference";
};

inline constexpr Cpu cpu{};
inline constexpr Cuda cuda{};
inline constexpr Reference reference{};

// A place where tensor memory lives.
template <class D>
concept Device = std::same_as<D, Cpu> || std::same_as<D, Cuda>;

// Something that runs operators on tensors of its `device`.
template <class B>
concept Backend = requires { typename B::device; } && Device<typename B::device>;

template <Backend B>
using device_of = typename B::device;

template <class D>
constexpr bool is_host_device = std::same_as<D, Cpu>;

}  // namespace axonseg
