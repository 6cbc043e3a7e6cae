#include "activation/activation.hpp"

#include "activation/kernels.hpp"
#include "common/dispatch.hpp"

namespace revcore {

namespace {

using detail::activation::Kernels;
using detail::activation::Table;

const Table& chosen() {
  static const Table& table =
      detail::dispatch<Table>(&detail::activation::table_generic, &detail::activation::table_avx2,
                              &detail::activation::table_avx512);
  return table;
}

template <typename T>
const Kernels<T>& ops() {
  return chosen().of<T>();
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

template <typename T>
void activation_forward_log_det(index_t rows, index_t cols, const T* z, T* y, T* log_det,
                                Activation act, T slope) noexcept {
  ops<T>().forward_log_det(rows, cols, z, y, log_det, act, slope);
}

#define REVCORE_INSTANTIATE(T)                                                                     \
  template void activation_forward<T>(index_t, const T*, T*, Activation, T) noexcept;              \
  template index_t activation_inverse<T>(index_t, const T*, T*, Activation, T, index_t*) noexcept; \
  template void activation_derivative<T>(index_t, const T*, T*, Activation, T) noexcept;           \
  template void activation_gate<T>(index_t, index_t, const T*, const T*, T*, T*, Activation,       \
                                   T) noexcept;                                                    \
  template void activation_forward_log_det<T>(index_t, index_t, const T*, T*, T*, Activation,      \
                                              T) noexcept;
REVCORE_INSTANTIATE(float)
REVCORE_INSTANTIATE(double)
#undef REVCORE_INSTANTIATE

}  // namespace revcore
