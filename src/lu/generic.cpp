// Portable build of the triangular-solve kernels (baseline vectors, no FMA).
#define REVCORE_LU_NS lu_generic
#include "lu/impl.hpp"
#include "lu/panel.hpp"

namespace revcore::detail::lu_generic {
LuKernels<float> table_f32() {
  auto t = Solver<float, 4, 2, 4>::table();
  t.panel_factor = &Panel<float, 4>::factor;
  return t;
}
LuKernels<double> table_f64() {
  auto t = Solver<double, 2, 2, 4>::table();
  t.panel_factor = &Panel<double, 2>::factor;
  return t;
}
}  // namespace revcore::detail::lu_generic
