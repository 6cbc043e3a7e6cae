// avx512 build of the activation kernels (activation_impl.hpp); per-file flags in CMakeLists.txt.
// Only entered after the CPU check in activation.cpp; nothing runs at load time.
#include "activation/kernels.hpp"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__AVX512VL__) && defined(__AVX512BW__) && defined(__FMA__)

#define REVCORE_ISA_NS avx512
#include "simd/avx512.hpp"
#include "simd/vecmath.hpp"
#include "activation/impl.hpp"

const revcore::detail::ActivationTable* revcore::detail::activation_table_avx512() {
  return avx512::activation_table();
}

#else

const revcore::detail::ActivationTable* revcore::detail::activation_table_avx512() {
  return nullptr;
}

#endif
