// The spline kernels of one instruction set, as a table of function pointers; spline.cpp picks
// a table once (common/dispatch.hpp) and forwards to it.
#pragma once

#include "common/common.hpp"
#include "common/dispatch.hpp"

namespace revcore::detail::spline {

// Knot sets hold bins + 1 values. Shared knots reach the kernels transposed ("lane-major"):
// knot m of dimension j at m * stride + j, stride >= dims a multiple of 16, the padding
// columns a valid spline. Per-row knots stay as given: element f's set at f * (bins + 1).
template <typename T>
struct Kernels {
  // Whether `sets` consecutive row-major knot sets are valid (finite, increasing, positive
  // slopes).
  bool (*check)(index_t sets, index_t bins, const T* xk, const T* yk, const T* dk);
  // out, log-derivative of `rows` rows of `dims` contiguous values, shared knots.
  void (*map_shared)(index_t rows, index_t dims, index_t bins, index_t stride, const T* xt,
                     const T* yt, const T* dt, const T* v, bool inverse, T* out, T* log_derivative);
  // The same for `total` contiguous values with one knot set each; false when a set is
  // invalid (outputs unspecified).
  bool (*map_rows)(index_t total, index_t bins, const T* v, const T* xk, const T* yk, const T* dk,
                   bool inverse, T* out, T* log_derivative);
  // grad_x, and the knot gradients added to gxt, gyt, gdt (lane-major, as the knots).
  void (*backward_shared)(index_t rows, index_t dims, index_t bins, index_t stride, const T* xt,
                          const T* yt, const T* dt, const T* x, const T* grad_out,
                          const T* grad_log, T* grad_x, T* gxt, T* gyt, T* gdt);
  // grad_x and the knot gradients written (laid out as the knots); false for invalid sets.
  bool (*backward_rows)(index_t total, index_t bins, const T* x, const T* xk, const T* yk,
                        const T* dk, const T* grad_out, const T* grad_log, T* grad_x, T* gxk,
                        T* gyk, T* gdk);
};

using Table = KernelTable<Kernels>;

// Null when the instruction set is not compiled in (other targets or compilers).
const Table* table_generic();
const Table* table_avx2();
const Table* table_avx512();

}  // namespace revcore::detail::spline
