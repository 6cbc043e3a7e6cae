// AVX2 + FMA activation kernels (impl.hpp), compiled with the avx2 flags (cmake/isa.cmake); only
// entered after the CPU check in common/dispatch.hpp. Nothing here runs at load time.
#include "activation/kernels.hpp"
#include "simd/isa.hpp"

#if REVCORE_TU_AVX2

#include "simd/avx2.hpp"  // first: it defines REVCORE_ISA

#include "activation/impl.hpp"

const revcore::detail::activation::Table* revcore::detail::activation::table_avx2() {
  return &avx2::activation_table;
}

#else

const revcore::detail::activation::Table* revcore::detail::activation::table_avx2() {
  return nullptr;
}

#endif
