// Triangular-solve kernels of the LU family, compiled once per instruction set.
//
// Packed panel layout (the "lane" layout): a block of up to RB right-hand sides of length n
// is stored as n rows of RB contiguous values, row i at x + i * RB, one lane per right-hand
// side. A triangular solve then runs down the rows with every arithmetic operation a vector
// over the lanes, whatever the strides of the caller's B: packing is O(n RB), the solve
// O(n^2 RB). The triangle T is read through (rs, cs), so the factors of lu_factor serve
// op = L, U, U^T and L^T with no copy.
#pragma once

#include <cstdint>

#include "common/common.hpp"
#include "common/dispatch.hpp"

namespace revcore::detail::lu {

// Register block of the lane kernels: NV vectors per packed row (RB = NV * VL lanes) and MR
// rows of the triangle per block, for MR * NV independent FMA chains. One row per element
// type in each ISA file.
struct Blocking {
  int NV, MR;
};

template <typename T>
struct Kernels {
  index_t lanes;  // RB of the packed layout
  // In-place solve of T X = X for a packed panel; lower runs forward, upper backward.
  void (*packed_lower)(index_t n, bool unit, const T* t, index_t rs, index_t cs, T* x);
  void (*packed_upper)(index_t n, bool unit, const T* t, index_t rs, index_t cs, T* x);
  // One right-hand side x (stride 1), in place.
  void (*vector_lower)(index_t n, bool unit, const T* t, index_t rs, index_t cs, T* x);
  void (*vector_upper)(index_t n, bool unit, const T* t, index_t rs, index_t cs, T* x);
  // Unblocked LU of an m x w column-major panel (column c at x + c * ld, m >= w), getf2's
  // pivot order; piv 0-based within the panel. Returns 0 or 1 + the first zero pivot.
  index_t (*panel_factor)(index_t m, index_t w, T* x, index_t ld, std::int32_t* piv);
  // packed_lower / packed_upper for a triangle with contiguous columns (row stride 1,
  // column stride cs): column-oriented (right-looking) so the triangle is read down its
  // columns, not across them at stride cs (one cache line and page per element otherwise).
  void (*packed_lower_cols)(index_t n, bool unit, const T* t, index_t cs, T* x);
  void (*packed_upper_cols)(index_t n, bool unit, const T* t, index_t cs, T* x);
  // Elementwise passes of the reverse pass over a packed panel of n rows: x <- g(x) - bias[j]
  // on row j, g = min(x, x * inv) when leaky (the leaky ReLU inverse for slope 1/inv <= 1)
  // and the identity otherwise (bias may be null); false when an input was not finite (x is
  // then partly updated). all_finite: whether every element of the n rows is finite.
  bool (*packed_affine_inverse)(index_t n, T* x, const T* bias, bool leaky, T inv);
  bool (*packed_all_finite)(index_t n, const T* x);
};

using Table = KernelTable<Kernels>;

// Null when the instruction set is not compiled in (other targets or compilers).
const Table* table_generic();
const Table* table_avx2();
const Table* table_avx512();

// The table chosen for this process (lu.cpp).
const Table& chosen();

template <typename T>
inline const Kernels<T>& kernels() {
  return chosen().of<T>();
}

}  // namespace revcore::detail::lu
