// Portable optimiser kernels (impl.hpp) for the baseline instruction set; always compiled.
#include "simd/generic.hpp"  // first: it defines REVCORE_ISA

#include "optim/impl.hpp"

const revcore::detail::optim::Table* revcore::detail::optim::table_generic() {
  return &generic::optim_table;
}
