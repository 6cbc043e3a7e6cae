// Portable lane kernels of the LU family (impl.hpp) on 16-byte vectors; always compiled.
#include "simd/generic.hpp"  // first: it defines REVCORE_ISA

#include "lu/impl.hpp"

namespace revcore::detail::lu {
namespace {
// clang-format off
//                           NV  MR
constexpr Blocking kFloat{    2,  4};
constexpr Blocking kDouble{   2,  4};
// clang-format on
}  // namespace

const Table* table_generic() { return &generic::lu_table<kFloat, kDouble>; }

}  // namespace revcore::detail::lu
