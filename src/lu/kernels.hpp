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

namespace revcore::detail {

template <typename T>
struct LuKernels {
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

const LuKernels<float>& lu_kernels_f32();
const LuKernels<double>& lu_kernels_f64();

template <typename T>
inline const LuKernels<T>& lu_kernels() {
  if constexpr (sizeof(T) == 4)
    return lu_kernels_f32();
  else
    return lu_kernels_f64();
}

// Per-ISA tables (lu_generic.cpp, lu_avx2.cpp, lu_avx512.cpp); null when not compiled for.
namespace lu_generic { LuKernels<float> table_f32(); LuKernels<double> table_f64(); }
namespace lu_avx2 { LuKernels<float> table_f32(); LuKernels<double> table_f64(); bool available(); }
namespace lu_avx512 { LuKernels<float> table_f32(); LuKernels<double> table_f64(); bool available(); }

}  // namespace revcore::detail
