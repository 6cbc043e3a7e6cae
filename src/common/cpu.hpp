// Runtime detection of the instruction sets the kernels are compiled for. Every kernel family
// (GEMM, LU) picks its path from isa_from_environment(), so one setting governs them all.
#pragma once

#include <cstdlib>
#include <cstring>

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

inline bool parse_isa(const char* name, Isa& isa) {
  if (std::strcmp(name, "avx512") == 0) {
    isa = Isa::avx512;
  } else if (std::strcmp(name, "avx2") == 0) {
    isa = Isa::avx2;
  } else if (std::strcmp(name, "generic") == 0) {
    isa = Isa::generic;
  } else {
    return false;
  }
  return true;
}

// The best path this CPU supports, or a lower one asked for by REVCORE_ARCH=avx512|avx2|generic
// (a higher one than the CPU supports, or an unknown value, is ignored).
inline Isa isa_from_environment() {
  const Isa best = best_supported_isa();
  Isa wanted = best;
  if (const char* env = std::getenv("REVCORE_ARCH"))
    if (!parse_isa(env, wanted)) wanted = best;
  return static_cast<int>(wanted) < static_cast<int>(best) ? wanted : best;
}

inline const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    case Isa::generic: break;
  }
  return "generic";
}

}  // namespace revcore::detail
