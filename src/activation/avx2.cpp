// avx2 build of the activation kernels (activation_impl.hpp); per-file flags in CMakeLists.txt.
// Only entered after the CPU check in activation.cpp; nothing runs at load time.
#include "activation/kernels.hpp"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)

#define REVCORE_ISA_NS avx2
#include "simd/avx2.hpp"
#include "simd/vecmath.hpp"
#include "activation/impl.hpp"

const revcore::detail::ActivationTable* revcore::detail::activation_table_avx2() {
  return avx2::activation_table();
}

#else

const revcore::detail::ActivationTable* revcore::detail::activation_table_avx2() {
  return nullptr;
}

#endif
