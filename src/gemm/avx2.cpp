// AVX2 + FMA GEMM path, compiled with the avx2 flags (cmake/isa.cmake); only entered after the
// CPU check in common/dispatch.hpp. Nothing here runs at load time: the table is
// constant-initialised.
#include "gemm/kernels.hpp"
#include "simd/isa.hpp"

#if REVCORE_TU_AVX2

#include "simd/avx2.hpp"  // first: it defines REVCORE_ISA

#include "gemm/impl.hpp"

namespace revcore::detail::gemm {
namespace {
// 6 x 16 (float) / 6 x 8 (double) register block: 12 accumulators of the 16 ymm registers.
// clang-format off
//                             MR  NR   KC    MC   NC
constexpr Blocking kFloat{      6, 16, 384, 1536, 384};
constexpr Blocking kDouble{     6,  8, 256,  768, 256};
// Zen 3: the k loop unrolled 4 times, and in double a 4 x 12 register block (12 accumulators
// too, 7 loads per 12 FMAs instead of 8); gemm.cpp sizes the cache blocks for Zen 3. Measured
// there, one thread, the blocked product alone (no Python) at n = 1024: the unrolling 4-5%
// faster in both types than the loop as the compiler leaves it (one k step per iteration);
// 4 x 12 then 3-9% faster than 6 x 8 at n = 1024 and 2048.
constexpr Blocking kFloatZen3{  6, 16, 384, 1536, 384, 4};
constexpr Blocking kDoubleZen3{ 4, 12, 384,  768, 240, 4};
// clang-format on
}  // namespace

const Table* table_avx2() { return &avx2::gemm_table<kFloat, kDouble>; }
const Table* table_avx2_zen3() { return &avx2::gemm_table<kFloatZen3, kDoubleZen3>; }

}  // namespace revcore::detail::gemm

#else

const revcore::detail::gemm::Table* revcore::detail::gemm::table_avx2() { return nullptr; }
const revcore::detail::gemm::Table* revcore::detail::gemm::table_avx2_zen3() { return nullptr; }

#endif
