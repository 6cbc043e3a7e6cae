// Portable GEMM path: scalar code for the baseline instruction set of the target, always
// compiled, used when the CPU has neither AVX2+FMA nor AVX-512 (or when forced for tests).
#include "gemm/kernels.hpp"

#define REVCORE_ISA_NS generic
#include "simd/generic.hpp"
#include "gemm/impl.hpp"

namespace revcore::detail {
namespace generic {
namespace {

using ConfigF32 = GemmConfig<Simd<float>, 4, 8, 256, 512, 512>;
using ConfigF64 = GemmConfig<Simd<double>, 4, 4, 256, 512, 512>;

constexpr GemmIsa isa{"generic", make_gemm_ops<ConfigF32>(), make_gemm_ops<ConfigF64>()};

}  // namespace
}  // namespace generic

const GemmIsa* gemm_isa_generic() { return &generic::isa; }

}  // namespace revcore::detail
