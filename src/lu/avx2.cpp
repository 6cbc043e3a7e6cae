// AVX2 + FMA lane kernels of the LU family (impl.hpp): 4 x 2 blocks of 256-bit accumulators.
#include "lu/kernels.hpp"
#include "simd/isa.hpp"

#if REVCORE_TU_AVX2

#include "simd/avx2.hpp"  // first: it defines REVCORE_ISA

#include "lu/impl.hpp"

namespace revcore::detail::lu {
namespace {
// clang-format off
//                           NV  MR
constexpr Blocking kFloat{    2,  4};
constexpr Blocking kDouble{   2,  4};
// clang-format on
}  // namespace

const Table* table_avx2() { return &avx2::lu_table<kFloat, kDouble>; }

}  // namespace revcore::detail::lu

#else

const revcore::detail::lu::Table* revcore::detail::lu::table_avx2() { return nullptr; }

#endif
