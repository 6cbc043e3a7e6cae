// generic build of the activation kernels (activation_impl.hpp); baseline flags, always compiled.
// Only entered after the CPU check in activation.cpp; nothing runs at load time.
#include "activation/kernels.hpp"

#define REVCORE_ISA_NS generic
#include "simd/generic.hpp"
#include "simd/vecmath.hpp"
#include "activation/impl.hpp"

const revcore::detail::ActivationTable* revcore::detail::activation_table_generic() {
  return generic::activation_table();
}
