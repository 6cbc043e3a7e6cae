// AVX-512 spline kernels (impl.hpp), compiled with the avx512 flags (cmake/isa.cmake); only
// entered after the CPU check in common/dispatch.hpp. Nothing here runs at load time.
#include "simd/isa.hpp"
#include "spline/kernels.hpp"

#if REVCORE_TU_AVX512

#include "simd/avx512.hpp"  // first: it defines REVCORE_ISA

#include "spline/impl.hpp"

const revcore::detail::spline::Table* revcore::detail::spline::table_avx512() {
  return &avx512::spline_table;
}

#else

const revcore::detail::spline::Table* revcore::detail::spline::table_avx512() { return nullptr; }

#endif
