// Portable build of the triangular-solve kernels (baseline vectors, no FMA).
#define REVCORE_LU_NS lu_generic
#include "lu_solve_impl.hpp"

namespace revcore::detail::lu_generic {
LuKernels<float> table_f32() { return Solver<float, 4, 2, 4>::table(); }
LuKernels<double> table_f64() { return Solver<double, 2, 2, 4>::table(); }
}  // namespace revcore::detail::lu_generic
