// Portable activation kernels (impl.hpp) for the baseline instruction set; always compiled.
#include "simd/generic.hpp"  // first: it defines REVCORE_ISA

#include "activation/impl.hpp"

const revcore::detail::activation::Table* revcore::detail::activation::table_generic() {
  return &generic::activation_table;
}
