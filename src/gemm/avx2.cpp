// AVX2 + FMA GEMM path. Compiled with -mavx2 -mfma (src/kernels.cmake); only entered after
// the CPU check in gemm.cpp. Nothing here may run at load time: the table below is
// constant-initialised.
#include "gemm/kernels.hpp"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)

#define REVCORE_ISA_NS avx2
#include "simd/avx2.hpp"
#include "gemm/impl.hpp"

namespace revcore::detail {
namespace avx2 {
namespace {

// 6 x 16 (float) / 6 x 8 (double) register block: 12 accumulators of the 16 ymm registers.
using ConfigF32 = GemmConfig<Simd<float>, 6, 2, 384, 1536, 384>;
using ConfigF64 = GemmConfig<Simd<double>, 6, 2, 256, 768, 256>;

constexpr GemmIsa isa{"avx2", make_gemm_ops<ConfigF32>(), make_gemm_ops<ConfigF64>()};

}  // namespace
}  // namespace avx2

const GemmIsa* gemm_isa_avx2() { return &avx2::isa; }

}  // namespace revcore::detail

#else

namespace revcore::detail {
const GemmIsa* gemm_isa_avx2() { return nullptr; }
}  // namespace revcore::detail

#endif
