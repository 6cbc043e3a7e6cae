// AVX-512 optimiser kernels (impl.hpp), compiled with the avx512 flags (cmake/isa.cmake); only
// entered after the CPU check in common/dispatch.hpp. Nothing here runs at load time.
#include "optim/kernels.hpp"
#include "simd/isa.hpp"

#if REVCORE_TU_AVX512

#include "simd/avx512.hpp"  // first: it defines REVCORE_ISA

#include "optim/impl.hpp"

const revcore::detail::optim::Table* revcore::detail::optim::table_avx512() {
  return &avx512::optim_table;
}

#else

const revcore::detail::optim::Table* revcore::detail::optim::table_avx512() { return nullptr; }

#endif
