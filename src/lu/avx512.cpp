// AVX-512 lane kernels of the LU family (impl.hpp): 8 x 2 blocks of 512-bit accumulators
// (16 of the 32 registers), enough independent FMA chains to cover the latency.
#include "lu/kernels.hpp"
#include "simd/isa.hpp"

#if REVCORE_TU_AVX512

#include "simd/avx512.hpp"  // first: it defines REVCORE_ISA

#include "lu/impl.hpp"

namespace revcore::detail::lu {
namespace {
// clang-format off
//                           NV  MR
constexpr Blocking kFloat{    2,  8};
constexpr Blocking kDouble{   2,  8};
// clang-format on
}  // namespace

const Table* table_avx512() { return &avx512::lu_table<kFloat, kDouble>; }

}  // namespace revcore::detail::lu

#else

const revcore::detail::lu::Table* revcore::detail::lu::table_avx512() { return nullptr; }

#endif
