// The spline kernels written once over a Simd<T> backend. Included by one translation unit per
// instruction set after its simd/<isa>.hpp, inside that ISA's namespace (REVCORE_ISA).
//
// Elements are processed in blocks of B in three steps: (1) per element, find the bin by
// counting the interior knots at or below the value (branch-free; K is small) and copy the
// bin's knot values into structure-of-arrays buffers; (2) the rational-quadratic arithmetic
// and the logarithm on whole vectors of those buffers; (3) per element, write the results,
// with the identity in the tails (and, backward, add the knot gradients at the bin).
#pragma once

#ifndef REVCORE_ISA
#error "include the ISA's simd/<isa>.hpp before this header"
#endif

#include <cmath>
#include <limits>

#include "spline/kernels.hpp"

namespace revcore::detail::REVCORE_ISA {

template <typename T>
struct SplineImpl {
  using S = Simd<T>;
  using V = typename S::V;
  using M = VecMath<S>;
  static constexpr index_t VL = S::VL;
  static constexpr index_t B = 128;  // elements per block, a multiple of every VL

  // One block: the bin's knot values per element, the (clamped) input, and per-element results.
  struct Block {
    alignas(64) T x0[B], w[B], y0[B], h[B], d0[B], d1[B], v[B];
    alignas(64) T r0[B], r1[B], r2[B], r3[B], r4[B], r5[B], r6[B];
    index_t base[B];  // offset of the element's knot set
    index_t k[B];     // its bin
    bool inside[B];
  };

  static bool check(index_t sets, index_t bins, const T* xk, const T* yk, const T* dk) {
    constexpr T big = std::numeric_limits<T>::max();
    const index_t m = bins + 1;
    unsigned ok = 1;
    for (index_t s = 0; s < sets; ++s) {
      const T* x = xk + s * m;
      const T* y = yk + s * m;
      const T* g = dk + s * m;
      // Strictly increasing (NaN compares false) with finite ends: every knot is finite.
      ok &= unsigned(std::fabs(x[0]) <= big) & unsigned(std::fabs(x[bins]) <= big) &
            unsigned(std::fabs(y[0]) <= big) & unsigned(std::fabs(y[bins]) <= big);
      for (index_t q = 0; q < bins; ++q)
        ok &= unsigned(x[q] < x[q + 1]) & unsigned(y[q] < y[q + 1]);
      for (index_t q = 0; q <= bins; ++q) ok &= unsigned(g[q] > T(0)) & unsigned(g[q] <= big);
    }
    return ok != 0;
  }

  // Step 1 for `count` elements starting at row i, column j; the bin is searched among the y
  // knots when by_y. Lanes past count get harmless values (a unit bin at 0).
  static void gather(index_t count, index_t i, index_t j, index_t dims, index_t bins,
                     index_t knot_row_stride, const T* v, const T* xk, const T* yk, const T* dk,
                     bool by_y, Block& b) {
    const T* keys = by_y ? yk : xk;
    for (index_t e = 0; e < count; ++e) {
      const index_t base = i * knot_row_stride + j * (bins + 1);
      const T* ks = keys + base;
      const T u = v[e];
      const bool in = u >= ks[0] && u <= ks[bins];
      const T p = in ? u : ks[0];
      index_t k = 0;
      for (index_t q = 1; q < bins; ++q) k += index_t(ks[q] <= p);
      const T* xs = xk + base + k;
      const T* ys = yk + base + k;
      const T* ds = dk + base + k;
      b.x0[e] = xs[0];
      b.w[e] = xs[1] - xs[0];
      b.y0[e] = ys[0];
      b.h[e] = ys[1] - ys[0];
      b.d0[e] = ds[0];
      b.d1[e] = ds[1];
      b.v[e] = p;
      b.base[e] = base;
      b.k[e] = k;
      b.inside[e] = in;
      if (++j == dims) {
        j = 0;
        ++i;
      }
    }
    for (index_t e = count; e < padded(count); ++e) {
      b.x0[e] = b.y0[e] = b.v[e] = T(0);
      b.w[e] = b.h[e] = b.d0[e] = b.d1[e] = T(1);
    }
  }

  static index_t padded(index_t count) { return (count + VL - 1) / VL * VL; }

  // log dy/dx = log(s^2 (d1 xi^2 + 2 s xi (1 - xi) + d0 (1 - xi)^2) / D^2) in one logarithm;
  // also returns y - y_k through rise when wanted.
  static V log_slope(V xi, V s, V d0, V d1, V h, V* rise) {
    const V one = S::set1(T(1));
    const V om = S::sub(one, xi);
    const V t = S::mul(xi, om);
    const V s2 = S::add(s, s);
    const V den = S::fmadd(S::sub(S::add(d0, d1), s2), t, s);
    const V xx = S::mul(xi, xi);
    if (rise != nullptr) *rise = S::div(S::mul(h, S::fmadd(s, xx, S::mul(d0, t))), den);
    const V m = S::fmadd(d1, xx, S::fmadd(s2, t, S::mul(d0, S::mul(om, om))));
    const V q = S::div(s, den);
    return M::log(S::mul(S::mul(q, q), m));
  }

  static void map(index_t rows, index_t dims, index_t bins, index_t knot_row_stride, const T* v,
                  const T* xk, const T* yk, const T* dk, bool inverse, T* out, T* logd) {
    Block b;
    const index_t total = rows * dims;
    for (index_t f = 0; f < total; f += B) {
      const index_t count = total - f < B ? total - f : B;
      gather(count, f / dims, f % dims, dims, bins, knot_row_stride, v + f, xk, yk, dk, inverse, b);
      const index_t n = padded(count);
      for (index_t e = 0; e < n; e += VL) {
        const V w = S::load(b.w + e), h = S::load(b.h + e), d0 = S::load(b.d0 + e);
        const V d1 = S::load(b.d1 + e), x0 = S::load(b.x0 + e), y0 = S::load(b.y0 + e);
        const V u = S::load(b.v + e);
        const V s = S::div(h, w);
        if (inverse) {
          // The root xi in [0, 1] of a xi^2 + b xi + c = 0 (c = -s r), in the form without
          // cancellation for the sign of b: -2c / (b + root) for b >= 0, (root - b) / 2a for
          // b < 0 (then a > 0). b^2 - 4ac >= 0 exactly; rounding may leave a tiny negative.
          const V r = S::sub(u, y0);
          const V c2 = S::sub(S::add(d0, d1), S::add(s, s));
          const V qa = S::fmadd(h, S::sub(s, d0), S::mul(r, c2));
          const V qb = S::fnmadd(r, c2, S::mul(h, d0));
          const V sr = S::mul(s, r);  // -c
          const V disc = S::max(S::fmadd(S::mul(S::set1(T(4)), qa), sr, S::mul(qb, qb)), S::zero());
          const V root = S::sqrt(disc);
          const V xi = S::blend_on_sign(qb, S::div(S::add(sr, sr), S::add(qb, root)),
                                        S::div(S::sub(root, qb), S::add(qa, qa)));
          S::store(b.r0 + e, S::fmadd(xi, w, x0));
          S::store(b.r1 + e, log_slope(xi, s, d0, d1, h, nullptr));
        } else {
          const V xi = S::div(S::sub(u, x0), w);
          V rise;
          const V ld = log_slope(xi, s, d0, d1, h, &rise);
          S::store(b.r0 + e, S::add(y0, rise));
          S::store(b.r1 + e, ld);
        }
      }
      for (index_t e = 0; e < count; ++e) {
        const T u = v[f + e];
        out[f + e] = b.inside[e] ? b.r0[e] : u;
        logd[f + e] = b.inside[e] ? b.r1[e] : (u != u ? u : T(0));
      }
    }
  }

  static void backward(index_t rows, index_t dims, index_t bins, index_t knot_row_stride,
                       const T* x, const T* xk, const T* yk, const T* dk, const T* grad_out,
                       const T* grad_log, T* grad_x, T* gxk, T* gyk, T* gdk) {
    Block b;
    alignas(64) T gy[B], gl[B];
    const index_t total = rows * dims;
    const V one = S::set1(T(1)), two = S::set1(T(2));
    for (index_t f = 0; f < total; f += B) {
      const index_t count = total - f < B ? total - f : B;
      gather(count, f / dims, f % dims, dims, bins, knot_row_stride, x + f, xk, yk, dk, false, b);
      const index_t n = padded(count);
      for (index_t e = 0; e < n; ++e) {
        const bool use = e < count && b.inside[e];
        gy[e] = use ? grad_out[f + e] : T(0);
        gl[e] = use ? grad_log[f + e] : T(0);
      }
      for (index_t e = 0; e < n; e += VL) {
        const V w = S::load(b.w + e), h = S::load(b.h + e), d0 = S::load(b.d0 + e);
        const V d1 = S::load(b.d1 + e), x0 = S::load(b.x0 + e), u = S::load(b.v + e);
        const V g_y = S::load(gy + e), g_l = S::load(gl + e);
        const V rw = S::div(one, w);
        const V s = S::mul(h, rw);
        const V xi = S::mul(S::sub(u, x0), rw);
        const V om = S::sub(one, xi);
        const V t = S::mul(xi, om);
        const V xx = S::mul(xi, xi);
        const V s2 = S::add(s, s);
        const V c2 = S::sub(S::add(d0, d1), s2);
        const V den = S::fmadd(c2, t, s);
        const V num = S::fmadd(s, xx, S::mul(d0, t));
        const V m = S::fmadd(d1, xx, S::fmadd(s2, t, S::mul(d0, S::mul(om, om))));
        const V rden = S::div(one, den);
        const V q = S::mul(num, rden);
        const V a = S::mul(S::mul(g_y, h), rden);    // dL/dN through y = y_k + h N / D
        const V bm = S::div(g_l, m);                 // dL/dM through log M
        const V c = S::mul(S::add(g_l, g_l), rden);  // -dL/dD through -2 log D
        const V m2xi = S::fnmadd(two, xi, one);      // 1 - 2 xi
        // dL/dtheta = a (N_theta - q D_theta) + bm M_theta - c D_theta, with D_theta etc.
        auto through = [&](V n_theta, V d_theta, V m_theta) {
          return S::fmadd(a, S::fnmadd(q, d_theta, n_theta),
                          S::fnmadd(c, d_theta, S::mul(bm, m_theta)));
        };
        const V g_s =
            S::add(through(xx, S::fnmadd(two, t, one), S::add(t, t)), S::div(S::add(g_l, g_l), s));
        const V m_xi = S::mul(two, S::fmadd(d1, xi, S::fnmadd(d0, om, S::mul(s, m2xi))));
        const V g_xi = through(S::fmadd(s2, xi, S::mul(d0, m2xi)), S::mul(c2, m2xi), m_xi);
        const V g_d0 = through(t, t, S::mul(om, om));
        const V g_d1 = through(S::zero(), t, xx);
        const V g_h = S::fmadd(g_s, rw, S::mul(g_y, q));
        const V g_w = S::mul(S::fmadd(g_s, s, S::mul(g_xi, xi)), S::sub(S::zero(), rw));
        const V gx = S::mul(g_xi, rw);
        S::store(b.r0 + e, gx);
        S::store(b.r1 + e, S::sub(S::sub(S::zero(), gx), g_w));
        S::store(b.r2 + e, g_w);
        S::store(b.r3 + e, S::sub(g_y, g_h));
        S::store(b.r4 + e, g_h);
        S::store(b.r5 + e, g_d0);
        S::store(b.r6 + e, g_d1);
      }
      for (index_t e = 0; e < count; ++e) {
        const T u = x[f + e];
        if (!b.inside[e]) {
          grad_x[f + e] = u != u ? u : grad_out[f + e];
          continue;
        }
        grad_x[f + e] = b.r0[e];
        const index_t at = b.base[e] + b.k[e];
        gxk[at] += b.r1[e];
        gxk[at + 1] += b.r2[e];
        gyk[at] += b.r3[e];
        gyk[at + 1] += b.r4[e];
        gdk[at] += b.r5[e];
        gdk[at + 1] += b.r6[e];
      }
    }
  }

  static constexpr spline::Kernels<T> kernels() { return {&check, &map, &backward}; }
};

inline constexpr spline::Table spline_table{kIsa, SplineImpl<float>::kernels(),
                                            SplineImpl<double>::kernels()};

}  // namespace revcore::detail::REVCORE_ISA
