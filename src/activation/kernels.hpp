// The element-wise activation kernels of one instruction set, as a table of function
// pointers; activation.cpp picks a table once (common/dispatch.hpp) and forwards to it.
#pragma once

#include "common/common.hpp"
#include "common/dispatch.hpp"

namespace revcore::detail::activation {

template <typename T>
struct Kernels {
  void (*forward)(index_t n, const T* x, T* y, Activation act, T slope);
  index_t (*inverse)(index_t n, const T* y, T* x, Activation act, T slope, index_t* first_bad);
  void (*derivative)(index_t n, const T* z, T* d, Activation act, T slope);
  // gz = g * f'(z) for a rows x cols row-major block (gz may alias g or z), and
  // grad_b[j] += sum over rows of gz[., j].
  void (*gate)(index_t rows, index_t cols, const T* z, const T* g, T* gz, T* grad_b, Activation act,
               T slope);
  // y = f(z) (y may alias z) and log_det[r] += sum_j log|f'(z[r, j])| for a rows x cols
  // row-major block.
  void (*forward_log_det)(index_t rows, index_t cols, const T* z, T* y, T* log_det, Activation act,
                          T slope);
};

using Table = KernelTable<Kernels>;

// Null when the instruction set is not compiled in (other targets or compilers).
const Table* table_generic();
const Table* table_avx2();
const Table* table_avx512();

}  // namespace revcore::detail::activation
