#include "activation.hpp"

#include <cmath>
#include <limits>

namespace revcore {

bool activation_is_bijective(Activation act) noexcept { return act != Activation::relu; }

namespace {

template <typename T>
inline T sigmoid(T z) noexcept {
  // Two branches so that exp never overflows: both give values in [0, 1].
  if (z >= T(0)) return T(1) / (T(1) + std::exp(-z));
  const T e = std::exp(z);
  return e / (T(1) + e);
}

template <typename T>
inline T leaky_relu(T z, T slope) noexcept { return z > T(0) ? z : slope * z; }

}  // namespace

template <typename T>
void activation_forward(index_t n, const T* x, T* y, Activation act, T slope) noexcept {
  switch (act) {
    case Activation::identity:
      for (index_t i = 0; i < n; ++i) y[i] = x[i];
      break;
    case Activation::relu:
      // Written so that NaN propagates (std::max would drop it).
      for (index_t i = 0; i < n; ++i) y[i] = x[i] < T(0) ? T(0) : x[i];
      break;
    case Activation::leaky_relu:
      for (index_t i = 0; i < n; ++i) y[i] = leaky_relu(x[i], slope);
      break;
    case Activation::tanh:
      for (index_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
      break;
    case Activation::sigmoid:
      for (index_t i = 0; i < n; ++i) y[i] = sigmoid(x[i]);
      break;
  }
}

template <typename T>
index_t activation_inverse(index_t n, const T* y, T* x, Activation act, T slope,
                           index_t* first_bad) noexcept {
  constexpr T inf = std::numeric_limits<T>::infinity();
  T lo = -inf, hi = inf;
  if (act == Activation::tanh) lo = T(-1), hi = T(1);
  if (act == Activation::sigmoid) lo = T(0), hi = T(1);
  index_t bad = 0;
  *first_bad = -1;
  for (index_t i = 0; i < n; ++i) {
    const T v = y[i];
    // Open interval test; false for NaN, so NaN counts as out of range.
    if (!(v > lo && v < hi) || act == Activation::relu) {
      if (bad == 0) *first_bad = i;
      ++bad;
      continue;
    }
    switch (act) {
      case Activation::identity: x[i] = v; break;
      case Activation::leaky_relu: x[i] = v > T(0) ? v : v / slope; break;
      case Activation::tanh: x[i] = std::atanh(v); break;
      case Activation::sigmoid: x[i] = std::log(v) - std::log1p(-v); break;
      case Activation::relu: break;
    }
  }
  return bad;
}

template <typename T>
void activation_derivative(index_t n, const T* z, T* d, Activation act, T slope) noexcept {
  for (index_t i = 0; i < n; ++i) {
    const T v = z[i];
    switch (act) {
      case Activation::identity: d[i] = T(1); break;
      case Activation::relu: d[i] = v > T(0) ? T(1) : T(0); break;
      case Activation::leaky_relu: d[i] = v > T(0) ? T(1) : slope; break;
      case Activation::tanh: {
        const T t = std::tanh(v);
        d[i] = T(1) - t * t;
        break;
      }
      case Activation::sigmoid: {
        const T s = sigmoid(v);
        d[i] = s * (T(1) - s);
        break;
      }
    }
  }
}

#define REVCORE_INSTANTIATE(T)                                                               \
  template void activation_forward<T>(index_t, const T*, T*, Activation, T) noexcept;         \
  template index_t activation_inverse<T>(index_t, const T*, T*, Activation, T, index_t*) noexcept; \
  template void activation_derivative<T>(index_t, const T*, T*, Activation, T) noexcept;
REVCORE_INSTANTIATE(float)
REVCORE_INSTANTIATE(double)
#undef REVCORE_INSTANTIATE

}  // namespace revcore
