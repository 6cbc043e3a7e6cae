// AVX2 spline kernels (impl.hpp), compiled with the avx2 flags (cmake/isa.cmake); only
// entered after the CPU check in common/dispatch.hpp. Nothing here runs at load time.
#include "simd/isa.hpp"
#include "spline/kernels.hpp"

#if REVCORE_TU_AVX2

#include "simd/avx2.hpp"  // first: it defines REVCORE_ISA

#include "spline/impl.hpp"

const revcore::detail::spline::Table* revcore::detail::spline::table_avx2() {
  return &avx2::spline_table;
}

#else

const revcore::detail::spline::Table* revcore::detail::spline::table_avx2() { return nullptr; }

#endif
