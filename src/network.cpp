#include "network.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "activation.hpp"
#include "gemm.hpp"
#include "lu.hpp"

namespace revcore {

template <typename T>
void network_forward(const DenseLayer<T>* layers, index_t depth, index_t batch, const T* x,
                     T* y) {
  index_t widest = 0;
  for (index_t l = 0; l < depth; ++l) widest = std::max(widest, layers[l].n_out);
  std::vector<T> ping(static_cast<std::size_t>(batch * widest));
  std::vector<T> pong(ping.size());
  const T* in = x;
  for (index_t l = 0; l < depth; ++l) {
    const DenseLayer<T>& L = layers[l];
    T* out = l + 1 == depth ? y : (l % 2 ? pong.data() : ping.data());
    // B = W^T, read through swapped strides.
    gemm_bias_act<T>(batch, L.n_out, L.n_in, in, L.n_in, 1, L.weight, 1, L.n_in, out, L.n_out,
                     1, L.bias, L.act, L.negative_slope);
    in = out;
  }
}

template <typename T>
InverseStatus network_inverse(const DenseLayer<T>* layers, index_t depth, index_t batch,
                              const T* y, T* x) {
  InverseStatus status;
  if (depth == 0) return status;
  const index_t n = layers[depth - 1].n_out;
  const index_t size = batch * n;
  std::copy(y, y + size, x);
  std::vector<T> z(static_cast<std::size_t>(size));
  for (index_t l = depth - 1; l >= 0; --l) {
    const DenseLayer<T>& L = layers[l];
    index_t first = -1;
    const index_t bad = activation_inverse<T>(size, x, z.data(), L.act, L.negative_slope, &first);
    if (bad) return {InverseFailure::out_of_range, l, bad, first};
    if (L.bias)
      for (index_t r = 0; r < batch; ++r)
        for (index_t j = 0; j < n; ++j) z[r * n + j] -= L.bias[j];
    // Row r of Z solves W x_r = z_r: the right-hand sides are Z^T, read through its strides.
    lu_solve<T>(n, batch, L.lu, n, 1, L.piv, false, z.data(), 1, n);
    index_t not_finite = 0, first_not_finite = -1;
    for (index_t i = 0; i < size; ++i)
      if (!std::isfinite(z[i]) && not_finite++ == 0) first_not_finite = i;
    std::copy(z.begin(), z.end(), x);
    if (not_finite) return {InverseFailure::not_finite, l, not_finite, first_not_finite};
  }
  return status;
}

template <typename T>
void dense_backward(index_t batch, index_t n_out, index_t n_in, const T* x, const T* w,
                    const T* z, const T* g, Activation act, T negative_slope, T* grad_x,
                    T* grad_w, T* grad_b) {
  const index_t size = batch * n_out;
  std::vector<T> gz(static_cast<std::size_t>(size));
  activation_derivative<T>(size, z, gz.data(), act, negative_slope);
  for (index_t i = 0; i < size; ++i) gz[i] *= g[i];
  for (index_t j = 0; j < n_out; ++j) grad_b[j] = T(0);
  for (index_t r = 0; r < batch; ++r)
    for (index_t j = 0; j < n_out; ++j) grad_b[j] += gz[r * n_out + j];
  // grad_w = gz^T x: gz read transposed through its strides.
  gemm<T>(n_out, n_in, batch, T(1), gz.data(), 1, n_out, x, n_in, 1, T(0), grad_w, n_in, 1);
  if (grad_x)
    gemm<T>(batch, n_in, n_out, T(1), gz.data(), n_out, 1, w, n_in, 1, T(0), grad_x, n_in, 1);
}

#define REVCORE_INSTANTIATE(T)                                                                 \
  template void network_forward<T>(const DenseLayer<T>*, index_t, index_t, const T*, T*);      \
  template InverseStatus network_inverse<T>(const DenseLayer<T>*, index_t, index_t, const T*,  \
                                            T*);                          \
  template void dense_backward<T>(index_t, index_t, index_t, const T*, const T*, const T*,     \
                                  const T*, Activation, T, T*, T*, T*);
REVCORE_INSTANTIATE(float)
REVCORE_INSTANTIATE(double)
#undef REVCORE_INSTANTIATE

}  // namespace revcore
