// The element-wise activation kernels of one instruction set, as a table of function
// pointers; activation.cpp picks a table once (cpu.hpp) and forwards to it.
#pragma once

#include "common/common.hpp"

namespace revcore::detail {

template <typename T>
struct ActivationOps {
  void (*forward)(index_t n, const T* x, T* y, Activation act, T slope);
  index_t (*inverse)(index_t n, const T* y, T* x, Activation act, T slope, index_t* first_bad);
  void (*derivative)(index_t n, const T* z, T* d, Activation act, T slope);
  // gz = g * f'(z) for a rows x cols row-major block (gz may alias g or z), and
  // grad_b[j] += sum over rows of gz[., j].
  void (*gate)(index_t rows, index_t cols, const T* z, const T* g, T* gz, T* grad_b,
               Activation act, T slope);
};

struct ActivationTable {
  ActivationOps<float> f32;
  ActivationOps<double> f64;
};

// Null when the instruction set is not compiled in (non-x86 targets or compilers).
const ActivationTable* activation_table_generic();
const ActivationTable* activation_table_avx2();
const ActivationTable* activation_table_avx512();

}  // namespace revcore::detail
