// AVX-512 build of the triangular-solve kernels: 8 x 2 blocks of 512-bit accumulators
// (16 of the 32 registers), enough independent FMA chains to cover the latency.
#define REVCORE_LU_NS lu_avx512
#if defined(__AVX512F__) && defined(__FMA__)
#include "lu/impl.hpp"
#include "lu/panel.hpp"

namespace revcore::detail::lu_avx512 {
bool available() { return true; }
LuKernels<float> table_f32() {
  auto t = Solver<float, 16, 2, 8>::table();
  t.panel_factor = &Panel<float, 16>::factor;
  return t;
}
LuKernels<double> table_f64() {
  auto t = Solver<double, 8, 2, 8>::table();
  t.panel_factor = &Panel<double, 8>::factor;
  return t;
}
}  // namespace revcore::detail::lu_avx512
#else
#include "lu/kernels.hpp"
namespace revcore::detail::lu_avx512 {
bool available() { return false; }
LuKernels<float> table_f32() { return {}; }
LuKernels<double> table_f64() { return {}; }
}  // namespace revcore::detail::lu_avx512
#endif
