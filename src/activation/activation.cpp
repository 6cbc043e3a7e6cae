#include "activation/activation.hpp"

#include "activation/kernels.hpp"
#include "common/cpu.hpp"

namespace revcore {

bool activation_is_bijective(Activation act) noexcept { return act != Activation::relu; }

namespace {

// The kernels of the instruction set chosen once, at first use (cpu.hpp; REVCORE_ARCH).
const detail::ActivationTable& table() {
  static const detail::ActivationTable* const chosen = [] {
    const detail::Isa isa = detail::isa_from_environment();
    const detail::ActivationTable* t = nullptr;
    if (isa == detail::Isa::avx512) t = detail::activation_table_avx512();
    if (!t && isa >= detail::Isa::avx2) t = detail::activation_table_avx2();
    return t ? t : detail::activation_table_generic();
  }();
  return *chosen;
}

template <typename T>
const detail::ActivationOps<T>& ops() {
  if constexpr (sizeof(T) == sizeof(float)) {
    return table().f32;
  } else {
    return table().f64;
  }
}

}  // namespace

template <typename T>
void activation_forward(index_t n, const T* x, T* y, Activation act, T slope) noexcept {
  ops<T>().forward(n, x, y, act, slope);
}

template <typename T>
index_t activation_inverse(index_t n, const T* y, T* x, Activation act, T slope,
                           index_t* first_bad) noexcept {
  return ops<T>().inverse(n, y, x, act, slope, first_bad);
}

template <typename T>
void activation_derivative(index_t n, const T* z, T* d, Activation act, T slope) noexcept {
  ops<T>().derivative(n, z, d, act, slope);
}

template <typename T>
void activation_gate(index_t rows, index_t cols, const T* z, const T* g, T* gz, T* grad_b,
                     Activation act, T slope) noexcept {
  ops<T>().gate(rows, cols, z, g, gz, grad_b, act, slope);
}

#define REVCORE_INSTANTIATE(T)                                                               \
  template void activation_forward<T>(index_t, const T*, T*, Activation, T) noexcept;         \
  template index_t activation_inverse<T>(index_t, const T*, T*, Activation, T, index_t*) noexcept; \
  template void activation_derivative<T>(index_t, const T*, T*, Activation, T) noexcept;     \
  template void activation_gate<T>(index_t, index_t, const T*, const T*, T*, T*, Activation, \
                                   T) noexcept;
REVCORE_INSTANTIATE(float)
REVCORE_INSTANTIATE(double)
#undef REVCORE_INSTANTIATE

}  // namespace revcore
