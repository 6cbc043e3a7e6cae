// AVX-512 GEMM path, compiled with the avx512 flags (cmake/isa.cmake); only entered after the
// CPU check in common/dispatch.hpp. Nothing here runs at load time: the table is
// constant-initialised.
#include "gemm/kernels.hpp"
#include "simd/isa.hpp"

#if REVCORE_TU_AVX512

#include "simd/avx512.hpp"  // first: it defines REVCORE_ISA

#include "gemm/impl.hpp"

namespace revcore::detail::gemm {
namespace {
// 12 x 32 (float) / 12 x 16 (double) register block: 24 accumulators of the 32 zmm registers.
// A micro-panel 12 x KC in L1 (18 KiB float, 24 KiB double), B block KC x NC in the 1 MiB L2.
// clang-format off
//                             MR  NR   KC    MC   NC
constexpr Blocking kFloat{     12, 32, 384, 1536, 384};
constexpr Blocking kDouble{    12, 16, 256,  768, 256};
// clang-format on
}  // namespace

const Table* table_avx512() { return &avx512::gemm_table<kFloat, kDouble>; }

}  // namespace revcore::detail::gemm

#else

const revcore::detail::gemm::Table* revcore::detail::gemm::table_avx512() { return nullptr; }

#endif
