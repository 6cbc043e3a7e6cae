// The activation kernels written once over a Simd<T> backend. Included by one translation unit
// per instruction set after its simd/<isa>.hpp, inside that ISA's namespace (REVCORE_ISA).
#pragma once

#ifndef REVCORE_ISA
#error "include the ISA's simd/<isa>.hpp before this header"
#endif

#include <cmath>
#include <limits>

#include "activation/kernels.hpp"

namespace revcore::detail::REVCORE_ISA {

template <typename T>
struct ActivationImpl {
  using S = Simd<T>;
  using V = typename S::V;
  using M = VecMath<S>;
  static constexpr index_t VL = S::VL;

  template <class F>
  static void map(index_t n, const T* x, T* y, F f) {
    index_t i = 0;
    for (; i + 2 * VL <= n; i += 2 * VL) {
      const V a = f(S::load(x + i)), b = f(S::load(x + i + VL));
      S::store(y + i, a);
      S::store(y + i + VL, b);
    }
    for (; i + VL <= n; i += VL) S::store(y + i, f(S::load(x + i)));
    if (i < n) S::store_partial(y + i, f(S::load_partial(x + i, n - i)), n - i);
  }

  static void forward(index_t n, const T* x, T* y, Activation act, T slope) {
    switch (act) {
      case Activation::identity:
        return map(n, x, y, [](V v) { return v; });
      case Activation::relu:
        return map(n, x, y, [](V v) { return M::relu(v); });
      case Activation::leaky_relu: {
        const V s = S::set1(slope);
        if (slope > T(1)) return map(n, x, y, [s](V v) { return M::leaky_relu(v, s, true); });
        return map(n, x, y, [s](V v) { return M::leaky_relu(v, s, false); });
      }
      case Activation::tanh:
        return map(n, x, y, [](V v) { return M::tanh(v); });
      case Activation::sigmoid:
        return map(n, x, y, [](V v) { return M::sigmoid(v); });
    }
  }

  // f'(z) as a vector function.
  template <class G>
  static void with_derivative(Activation act, T slope, G g) {
    const V one = S::set1(T(1));
    switch (act) {
      case Activation::identity:
        return g([one](V) { return one; });
      case Activation::relu:
        return g([one](V v) { return S::select_gt(v, S::zero(), one, S::zero()); });
      case Activation::leaky_relu: {
        const V s = S::set1(slope);
        return g([one, s](V v) { return S::select_gt(v, S::zero(), one, s); });
      }
      case Activation::tanh:
        return g([one](V v) {
          const V t = M::tanh(v);
          return S::fnmadd(t, t, one);
        });
      case Activation::sigmoid:
        return g([one](V v) {
          const V s = M::sigmoid(v);
          return S::mul(s, S::sub(one, s));
        });
    }
  }

  static void derivative(index_t n, const T* z, T* d, Activation act, T slope) {
    with_derivative(act, slope, [&](auto f) { map(n, z, d, f); });
  }

  static void gate(index_t rows, index_t cols, const T* z, const T* g, T* gz, T* grad_b,
                   Activation act, T slope) {
    with_derivative(act, slope, [&](auto f) {
      const index_t full = cols / VL * VL;
      for (index_t r = 0; r < rows; ++r) {
        const T* zr = z + r * cols;
        const T* gr = g + r * cols;
        T* out = gz + r * cols;
        for (index_t j = 0; j < full; j += VL) {
          const V v = S::mul(S::load(gr + j), f(S::load(zr + j)));
          S::store(out + j, v);
          S::store(grad_b + j, S::add(S::load(grad_b + j), v));
        }
        if (full < cols) {
          const index_t c = cols - full;
          const V v = S::mul(S::load_partial(gr + full, c), f(S::load_partial(zr + full, c)));
          S::store_partial(out + full, v, c);
          S::store_partial(grad_b + full, S::add(S::load_partial(grad_b + full, c), v), c);
        }
      }
    });
  }

  // y = f(z) (y may alias z) and log_det[r] += sum_j log|f'(z[r, j])| for a rows x cols
  // row-major block: one pass while z is in cache. f(v, d) returns f(v) and sets d to
  // log|f'(v)|. Lanes accumulate separately and are added once per row.
  template <class F>
  static void rows_log_det(index_t rows, index_t cols, const T* z, T* y, T* log_det, F f) {
    const index_t full = cols / VL * VL;
    for (index_t r = 0; r < rows; ++r) {
      const T* zr = z + r * cols;
      T* yr = y + r * cols;
      V sum = S::zero(), d;
      for (index_t j = 0; j < full; j += VL) {
        S::store(yr + j, f(S::load(zr + j), d));
        sum = S::add(sum, d);
      }
      T total = S::reduce_add(sum);
      if (full < cols) {
        const index_t c = cols - full;
        S::store_partial(yr + full, f(S::load_partial(zr + full, c), d), c);
        T tail[VL];
        S::store_partial(tail, d, c);
        for (index_t l = 0; l < c; ++l) total += tail[l];
      }
      log_det[r] += total;
    }
  }

  // log|f'(z)| in closed forms that neither overflow nor take log(0) for large |z|, a = |z|:
  // leaky ReLU log(slope) for z <= 0, else 0; identity 0; tanh log(1 - tanh^2 z) =
  // 2 (log 2 - a - log1p(e^-2a)) = 2 (log 2 - a - log(2 + expm1(-2a))), sharing expm1 with
  // tanh itself (2 + expm1 lies in [1, 2], so its log loses nothing); sigmoid
  // -softplus(z) - softplus(-z) = -a - 2 log1p(e^-a), sharing e^-a with sigmoid. The values
  // of f are those of forward() bit for bit. relu is not a bijection and never reaches here.
  static void forward_log_det(index_t rows, index_t cols, const T* z, T* y, T* log_det,
                              Activation act, T slope) {
    const V zero = S::zero();
    switch (act) {
      case Activation::identity:
      case Activation::relu:
        return rows_log_det(rows, cols, z, y, log_det, [&](V v, V& d) {
          d = zero;
          return act == Activation::identity ? v : M::relu(v);
        });
      case Activation::leaky_relu: {
        const V s = S::set1(slope);
        const V log_slope = S::set1(static_cast<T>(std::log(slope)));
        const bool steep = slope > T(1);
        return rows_log_det(rows, cols, z, y, log_det, [&](V v, V& d) {
          d = S::select_gt(v, zero, zero, log_slope);
          return M::leaky_relu(v, s, steep);
        });
      }
      case Activation::tanh: {
        const V two = S::set1(T(2)), minus_two = S::set1(T(-2)), floor = S::set1(T(-80));
        const V ln2 = S::set1(T(0.693147180559945309417232121458176568L));
        return rows_log_det(rows, cols, z, y, log_det, [&](V v, V& d) {
          // As VecMath::tanh: |z| >= 40 is 1 in both precisions; the clamp keeps 2^n normal.
          const V a = S::abs(v);
          const V e = M::expm1_negative(S::max(floor, S::mul(a, minus_two)));
          const V w = S::add(two, e);
          const V inner = S::sub(S::sub(ln2, a), M::log(w));
          d = S::add(inner, inner);
          return S::copysign(S::mul(S::sub(zero, e), S::recip(w)), v);
        });
      }
      case Activation::sigmoid: {
        const V one = S::set1(T(1));
        return rows_log_det(rows, cols, z, y, log_det, [&](V v, V& d) {
          const V a = S::abs(v);
          const V e = M::exp(S::sub(zero, a));
          const V l = M::log1p(e);
          d = S::sub(S::sub(zero, a), S::add(l, l));
          const V r = S::recip(S::add(one, e));
          return S::blend_on_sign(v, r, S::mul(e, r));
        });
      }
    }
  }

  // Range check and inverse in one pass: a vector compare per block gives a lane mask; its
  // popcount adds to the count and, for the first failing block only, its lowest set bit
  // gives the first index. Out-of-range lanes get whatever f computes (unspecified).
  template <class F>
  static index_t checked_map(index_t n, const T* y, T* x, T lo_, T hi_, F f, index_t* first_bad) {
    const V lo = S::set1(lo_), hi = S::set1(hi_);
    index_t bad = 0, first = -1;
    auto note = [&](unsigned mask, index_t i) {
#if defined(__GNUC__) || defined(__clang__)
      if (first < 0) first = i + __builtin_ctz(mask);
      bad += __builtin_popcount(mask);
#else
      for (index_t l = 0; mask; ++l, mask >>= 1)
        if (mask & 1u) {
          if (first < 0) first = i + l;
          ++bad;
        }
#endif
    };
    index_t i = 0;
    for (; i + 2 * VL <= n; i += 2 * VL) {
      const V a = S::load(y + i), b = S::load(y + i + VL);
      const unsigned ma = S::outside(a, lo, hi), mb = S::outside(b, lo, hi);
      S::store(x + i, f(a));
      S::store(x + i + VL, f(b));
      if (ma | mb) {
        if (ma) note(ma, i);
        if (mb) note(mb, i + VL);
      }
    }
    for (; i + VL <= n; i += VL) {
      const V a = S::load(y + i);
      const unsigned m = S::outside(a, lo, hi);
      S::store(x + i, f(a));
      if (m) note(m, i);
    }
    if (i < n) {
      const index_t c = n - i;
      const V a = S::load_partial(y + i, c);
      const unsigned m = S::outside(a, lo, hi) & ((1u << c) - 1u);
      S::store_partial(x + i, f(a), c);
      if (m) note(m, i);
    }
    *first_bad = first;
    return bad;
  }

  static index_t inverse(index_t n, const T* y, T* x, Activation act, T slope, index_t* first_bad) {
    constexpr T inf = std::numeric_limits<T>::infinity();
    switch (act) {
      case Activation::relu:
        *first_bad = n > 0 ? 0 : -1;
        return n;
      case Activation::identity:
        return checked_map(n, y, x, -inf, inf, [](V v) { return v; }, first_bad);
      case Activation::leaky_relu: {
        const V s = S::set1(slope);
        return checked_map(
            n, y, x, -inf, inf, [s](V v) { return S::select_gt(v, S::zero(), v, S::div(v, s)); },
            first_bad);
      }
      case Activation::tanh:
        return checked_map(n, y, x, T(-1), T(1), [](V v) { return M::atanh(v); }, first_bad);
      case Activation::sigmoid:
        return checked_map(n, y, x, T(0), T(1), [](V v) { return M::logit(v); }, first_bad);
    }
    *first_bad = -1;
    return 0;
  }

  static constexpr activation::Kernels<T> kernels() {
    return {&forward, &inverse, &derivative, &gate, &forward_log_det};
  }
};

inline constexpr activation::Table activation_table{kIsa, ActivationImpl<float>::kernels(),
                                                    ActivationImpl<double>::kernels()};

}  // namespace revcore::detail::REVCORE_ISA
