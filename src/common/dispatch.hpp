// Run-time choice of a kernel family's instruction-set path. Every family (gemm, activation,
// lu) has one table per ISA (kernels.hpp in its folder) and picks it with dispatch() below, so
// one CPU check and one setting (REVCORE_ARCH) govern them all.
#pragma once

#include <cstdlib>
#include <cstring>
#include <type_traits>

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

// A family's kernels for one instruction set, for each element type. Kernels<T> is the
// family's struct of function pointers (and blocking); tables are constant-initialised in the
// ISA translation units, so nothing runs at load time.
template <template <typename> class Kernels>
struct KernelTable {
  const char* isa;  // "generic", "avx2" or "avx512"
  Kernels<float> f32;
  Kernels<double> f64;

  template <typename T>
  constexpr const Kernels<T>& of() const {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
    if constexpr (std::is_same_v<T, float>) {
      return f32;
    } else {
      return f64;
    }
  }
};

// The table of the best path that is compiled in (the ISA's entry returns null otherwise),
// supported by this CPU and not above REVCORE_ARCH. Callers keep the result in a
// function-local static: the choice is made once per process, thread-safely.
template <class Table>
const Table& dispatch(const Table* (*generic)(), const Table* (*avx2)(), const Table* (*avx512)()) {
  const Isa isa = isa_from_environment();
  const Table* table = nullptr;
  if (isa >= Isa::avx512) table = avx512();
  if (table == nullptr && isa >= Isa::avx2) table = avx2();
  return table != nullptr ? *table : *generic();
}

}  // namespace revcore::detail
