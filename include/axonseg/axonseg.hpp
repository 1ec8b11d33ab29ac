// The whole library in one include. Embedders may include single headers instead.
#pragma once

#include "axonseg/config.hpp"
#include "axonseg/core/device.hpp"
#include "axonseg/core/dtype.hpp"
#include "axonseg/core/error.hpp"
#include "axonseg/core/memory.hpp"
#include "axonseg/core/parallel.hpp"
#include "axonseg/core/shape.hpp"
#include "axonseg/core/tensor.hpp"
#include "axonseg/ops/leaky_relu.hpp"
