// AVX-512 activation kernels (impl.hpp), compiled with the avx512 flags (cmake/isa.cmake); only
// entered after the CPU check in common/dispatch.hpp. Nothing here runs at load time.
#include "activation/kernels.hpp"
#include "simd/isa.hpp"

#if REVCORE_TU_AVX512

#include "simd/avx512.hpp"  // first: it defines REVCORE_ISA

#include "activation/impl.hpp"

const revcore::detail::activation::Table* revcore::detail::activation::table_avx512() {
  return &avx512::activation_table;
}

#else

const revcore::detail::activation::Table* revcore::detail::activation::table_avx512() {
  return nullptr;
}

#endif
