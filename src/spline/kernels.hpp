// The spline kernels of one instruction set, as a table of function pointers; spline.cpp picks
// a table once (common/dispatch.hpp) and forwards to it.
#pragma once

#include "common/common.hpp"
#include "common/dispatch.hpp"

namespace revcore::detail::spline {

// `rows` rows of `dims` contiguous elements; the knot set of element (i, j) starts at
// i * knot_row_stride + j * (bins + 1) (knot_row_stride 0: one set per dimension, shared).
template <typename T>
struct Kernels {
  // Whether `sets` consecutive knot sets are valid (finite, increasing, positive slopes).
  bool (*check)(index_t sets, index_t bins, const T* xk, const T* yk, const T* dk);
  void (*map)(index_t rows, index_t dims, index_t bins, index_t knot_row_stride, const T* v,
              const T* xk, const T* yk, const T* dk, bool inverse, T* out, T* log_derivative);
  // Adds the knot gradients to gxk, gyk, gdk (laid out as the knots) and writes grad_x.
  void (*backward)(index_t rows, index_t dims, index_t bins, index_t knot_row_stride, const T* x,
                   const T* xk, const T* yk, const T* dk, const T* grad_out, const T* grad_log,
                   T* grad_x, T* gxk, T* gyk, T* gdk);
};

using Table = KernelTable<Kernels>;

// Null when the instruction set is not compiled in (other targets or compilers).
const Table* table_generic();
const Table* table_avx2();
const Table* table_avx512();

}  // namespace revcore::detail::spline
