// AVX2 + FMA optimiser kernels (impl.hpp), compiled with the avx2 flags (cmake/isa.cmake); only
// entered after the CPU check in common/dispatch.hpp. Nothing here runs at load time.
#include "optim/kernels.hpp"
#include "simd/isa.hpp"

#if REVCORE_TU_AVX2

#include "simd/avx2.hpp"  // first: it defines REVCORE_ISA

#include "optim/impl.hpp"

const revcore::detail::optim::Table* revcore::detail::optim::table_avx2() {
  return &avx2::optim_table;
}

#else

const revcore::detail::optim::Table* revcore::detail::optim::table_avx2() { return nullptr; }

#endif
