// Shared definitions for revcore's C++ kernels. No Python or numpy types here.
#pragma once

#include <cstddef>
#include <stdexcept>

namespace revcore {

// Element counts and strides are signed 64-bit: negative strides describe reversed views
// and 64-bit products never overflow for arrays that fit in memory.
using index_t = std::ptrdiff_t;

enum class Activation : int {
  identity = 0,
  relu = 1,
  leaky_relu = 2,
  tanh = 3,
  sigmoid = 4,
};

}  // namespace revcore
