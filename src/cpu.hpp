// Runtime detection of the instruction sets the GEMM kernels are compiled for.
#pragma once

namespace revcore::detail {

// Ordered: a path may only be forced down this list, never up.
enum class Isa : int { generic = 0, avx2 = 1, avx512 = 2 };

inline Isa best_supported_isa() {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  // libgcc/compiler-rt also check XGETBV, so these are false when the OS does not save the
  // AVX-512 or AVX register state.
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("fma")) {
    return Isa::avx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return Isa::avx2;
  }
#endif
  return Isa::generic;
}

}  // namespace revcore::detail
