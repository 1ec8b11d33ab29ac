// Whether a backward pass overwrites a gradient buffer or adds into it. Parameter gradients
// accumulate over the uses of a parameter (and over micro-batches); input gradients usually
// overwrite. An enum, not a bool, so a call site reads as what it does.
#pragma once

namespace axonseg {

enum class Grad { overwrite, accumulate };

}  // namespace axonseg
