// Portable spline kernels (impl.hpp) for the baseline instruction set; always compiled.
#include "simd/generic.hpp"  // first: it defines REVCORE_ISA

#include "spline/impl.hpp"

const revcore::detail::spline::Table* revcore::detail::spline::table_generic() {
  return &generic::spline_table;
}
