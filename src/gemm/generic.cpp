// Portable GEMM path: scalar code for the baseline instruction set of the target, always
// compiled, used when the CPU has neither AVX2+FMA nor AVX-512 (or when forced for tests).
#include "simd/generic.hpp"  // first: it defines REVCORE_ISA

#include "gemm/impl.hpp"

namespace revcore::detail::gemm {
namespace {
// clang-format off
//                             MR  NR   KC   MC   NC
constexpr Blocking kFloat{      4,  8, 256, 512, 512};
constexpr Blocking kDouble{     4,  4, 256, 512, 512};
// clang-format on
}  // namespace

const Table* table_generic() { return &generic::gemm_table<kFloat, kDouble>; }

}  // namespace revcore::detail::gemm
