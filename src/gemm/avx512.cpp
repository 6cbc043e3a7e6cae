// AVX-512 GEMM path. Compiled with -mavx512f -mavx512dq -mavx512vl -mavx512bw -mfma
// (src/kernels.cmake); only entered after the CPU check in gemm.cpp. Nothing here may run
// at load time: the table below is constant-initialised.
#include "gemm/kernels.hpp"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__FMA__)

#define REVCORE_ISA_NS avx512
#include "simd/avx512.hpp"
#include "gemm/impl.hpp"

namespace revcore::detail {
namespace avx512 {
namespace {

// 12 x 32 (float) / 12 x 16 (double) register block: 24 accumulators of the 32 zmm registers.
// A micro-panel 12 x KC in L1 (18 KiB float, 24 KiB double), B block KC x NC in the 1 MiB L2.
using ConfigF32 = GemmConfig<Simd<float>, 12, 2, 384, 1536, 384>;
using ConfigF64 = GemmConfig<Simd<double>, 12, 2, 256, 768, 256>;

constexpr GemmIsa isa{"avx512", make_gemm_ops<ConfigF32>(), make_gemm_ops<ConfigF64>()};

}  // namespace
}  // namespace avx512

const GemmIsa* gemm_isa_avx512() { return &avx512::isa; }

}  // namespace revcore::detail

#else

namespace revcore::detail {
const GemmIsa* gemm_isa_avx512() { return nullptr; }
}  // namespace revcore::detail

#endif
