// AVX2 + FMA build of the triangular-solve kernels: 4 x 2 blocks of 256-bit accumulators.
#define REVCORE_LU_NS lu_avx2
#if defined(__AVX2__) && defined(__FMA__)
#include "lu/impl.hpp"
#include "lu/panel.hpp"

namespace revcore::detail::lu_avx2 {
bool available() { return true; }
LuKernels<float> table_f32() {
  auto t = Solver<float, 8, 2, 4>::table();
  t.panel_factor = &Panel<float, 8>::factor;
  return t;
}
LuKernels<double> table_f64() {
  auto t = Solver<double, 4, 2, 4>::table();
  t.panel_factor = &Panel<double, 4>::factor;
  return t;
}
}  // namespace revcore::detail::lu_avx2
#else
#include "lu/kernels.hpp"
namespace revcore::detail::lu_avx2 {
bool available() { return false; }
LuKernels<float> table_f32() { return {}; }
LuKernels<double> table_f64() { return {}; }
}  // namespace revcore::detail::lu_avx2
#endif
