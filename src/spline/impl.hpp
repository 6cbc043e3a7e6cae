// The spline kernels written once over a Simd<T> backend. Included by one translation unit per
// instruction set after its simd/<isa>.hpp, inside that ISA's namespace (REVCORE_ISA).
//
// Every kernel works on VL elements at a time with the knots of each lane in vectors: knot m
// of the VL lanes is one load from a "lane-major" copy of the knots (knot m of lane l at
// m * stride + l). With shared knots that copy is the knots transposed once per call (the
// lanes are VL consecutive dimensions of a row); with per-row knots, the VL consecutive
// elements' sets are transposed in registers (VL x VL blocks) into a small scratch buffer.
// The bin is found without gathers or branches: walking the interior knots, each lane takes
// knot m's values when knot m is not above it (K is small), and counts the knots passed.
#pragma once

#ifndef REVCORE_ISA
#error "include the ISA's simd/<isa>.hpp before this header"
#endif

#include <cmath>
#include <limits>
#include <vector>

#include "spline/kernels.hpp"

namespace revcore::detail::REVCORE_ISA {

template <typename T>
struct SplineImpl {
  using S = Simd<T>;
  using V = typename S::V;
  using M = VecMath<S>;
  static constexpr index_t VL = S::VL;

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

  // The knot sets of one vector of lanes, lane-major: knot m of every lane at x + m * stride.
  struct Lanes {
    const T* x;
    const T* y;
    const T* d;
    index_t stride;
    index_t bins;
    V at(const T* a, index_t m) const { return S::load(a + m * stride); }
  };

  // The values of the bin of p (knots of the lanes in k; the bin searched among the y knots
  // when by_y) and the bin's index as a number.
  struct Bin {
    V x0, x1, y0, y1, d0, d1, index;
  };

  static Bin find_bin(const Lanes& k, V p, bool by_y) {
    const T* keys = by_y ? k.y : k.x;
    Bin b{k.at(k.x, 0), k.at(k.x, 1), k.at(k.y, 0), k.at(k.y, 1),
          k.at(k.d, 0), k.at(k.d, 1), S::zero()};
    const V one = S::set1(T(1));
    for (index_t m = 1; m < k.bins; ++m) {
      // The bin is at least m unless knot m lies above p.
      const V km = k.at(keys, m);
      b.x0 = S::select_gt(km, p, b.x0, k.at(k.x, m));
      b.x1 = S::select_gt(km, p, b.x1, k.at(k.x, m + 1));
      b.y0 = S::select_gt(km, p, b.y0, k.at(k.y, m));
      b.y1 = S::select_gt(km, p, b.y1, k.at(k.y, m + 1));
      b.d0 = S::select_gt(km, p, b.d0, k.at(k.d, m));
      b.d1 = S::select_gt(km, p, b.d1, k.at(k.d, m + 1));
      b.index = S::add(b.index, S::select_gt(km, p, S::zero(), one));
    }
    return b;
  }

  // Per lane, how many of the checks of check() its knot set fails.
  static V faults(const Lanes& k) {
    constexpr T big = std::numeric_limits<T>::max();
    const V one = S::set1(T(1)), zero = S::zero(), top = S::set1(big);
    V bad = zero;
    for (const T* a : {k.x, k.y}) {
      bad = S::add(bad, S::select_gt(S::abs(k.at(a, 0)), top, one, zero));
      bad = S::add(bad, S::select_gt(S::abs(k.at(a, k.bins)), top, one, zero));
      for (index_t m = 0; m < k.bins; ++m)  // NaN compares false: a fault
        bad = S::add(bad, S::select_gt(k.at(a, m + 1), k.at(a, m), zero, one));
    }
    for (index_t m = 0; m <= k.bins; ++m) {
      const V g = k.at(k.d, m);
      bad = S::add(bad, S::add(S::select_gt(g, zero, zero, one), S::select_gt(g, top, one, zero)));
    }
    return bad;
  }

  // 1 where lo <= u <= hi, 0 in the tails and for NaN.
  static V inside(V u, V lo, V hi) {
    const V one = S::set1(T(1)), zero = S::zero();
    V in = S::select_gt(lo, u, zero, one);
    in = S::select_gt(u, hi, zero, in);
    return S::select_gt(S::abs(u), S::set1(T(-1)), in, zero);  // false for NaN
  }

  // log dy/dx = log(s^2 (d1 xi^2 + 2 s xi (1 - xi) + d0 (1 - xi)^2) / D^2) in one logarithm;
  // also returns y - y_k through rise when wanted.
  static V log_slope(V xi, V s, V d0, V d1, V h, V* rise) {
    const V one = S::set1(T(1));
    const V om = S::sub(one, xi);
    const V t = S::mul(xi, om);
    const V s2 = S::add(s, s);
    const V rden = S::div(one, S::fmadd(S::sub(S::add(d0, d1), s2), t, s));
    const V xx = S::mul(xi, xi);
    if (rise != nullptr) *rise = S::mul(S::mul(h, S::fmadd(s, xx, S::mul(d0, t))), rden);
    const V m = S::fmadd(d1, xx, S::fmadd(s2, t, S::mul(d0, S::mul(om, om))));
    const V q = S::mul(s, rden);
    return M::log(S::mul(S::mul(q, q), m));
  }

  // The spline (or its inverse) and the log-derivative at p, inside bin b.
  static void evaluate(const Bin& b, V p, bool inverse, V& out, V& logd) {
    const V w = S::sub(b.x1, b.x0), h = S::sub(b.y1, b.y0);
    const V rw = S::div(S::set1(T(1)), w);
    const V s = S::mul(h, rw);
    if (inverse) {
      // The root xi in [0, 1] of a xi^2 + b xi + c = 0 (c = -s r), in the form without
      // cancellation for the sign of b: -2c / (b + root) for b >= 0, (root - b) / 2a for
      // b < 0 (then a > 0). b^2 - 4ac >= 0 exactly; rounding may leave a tiny negative.
      const V r = S::sub(p, b.y0);
      const V c2 = S::sub(S::add(b.d0, b.d1), S::add(s, s));
      const V qa = S::fmadd(h, S::sub(s, b.d0), S::mul(r, c2));
      const V qb = S::fnmadd(r, c2, S::mul(h, b.d0));
      const V sr = S::mul(s, r);  // -c
      const V disc = S::max(S::fmadd(S::mul(S::set1(T(4)), qa), sr, S::mul(qb, qb)), S::zero());
      const V root = S::sqrt(disc);
      const V xi = S::div(S::blend_on_sign(qb, S::add(sr, sr), S::sub(root, qb)),
                          S::blend_on_sign(qb, S::add(qb, root), S::add(qa, qa)));
      out = S::fmadd(xi, w, b.x0);
      logd = log_slope(xi, s, b.d0, b.d1, h, nullptr);
    } else {
      const V xi = S::mul(S::sub(p, b.x0), rw);
      V rise;
      logd = log_slope(xi, s, b.d0, b.d1, h, &rise);
      out = S::add(b.y0, rise);
    }
  }

  // Forward or inverse of one vector u whose lanes' knots are k; lanes outside the range pass
  // through with log-derivative 0, NaN gives NaN.
  static void spline_lanes(const Lanes& k, V u, bool inverse, V& out, V& logd) {
    const T* keys = inverse ? k.y : k.x;
    const V lo = k.at(keys, 0), hi = k.at(keys, k.bins);
    const V in = inside(u, lo, hi);
    const V half = S::set1(T(0.5));
    const V p = S::select_gt(in, half, u, lo);
    V o, l;
    evaluate(find_bin(k, p, inverse), p, inverse, o, l);
    const V tail_log = S::select_gt(S::abs(u), S::set1(T(-1)), S::zero(), u);  // NaN: NaN
    out = S::select_gt(in, half, o, u);
    logd = S::select_gt(in, half, l, tail_log);
  }

  // Gradients for one vector: grad_x, and per lane the cotangents of its bin's two knots in
  // x, y and d (zero for lanes in the tails or NaN).
  struct Grads {
    V x, xa, xb, ya, yb, da, db;
  };

  static Grads gradient_lanes(const Lanes& k, V u, V g_y_in, V g_l_in, V& index) {
    const V one = S::set1(T(1)), two = S::set1(T(2)), half = S::set1(T(0.5));
    const V lo = k.at(k.x, 0), hi = k.at(k.x, k.bins);
    const V in = inside(u, lo, hi);
    const V p = S::select_gt(in, half, u, lo);
    const Bin bin = find_bin(k, p, false);
    index = bin.index;
    const V g_y = S::select_gt(in, half, g_y_in, S::zero());
    const V g_l = S::select_gt(in, half, g_l_in, S::zero());
    const V d0 = bin.d0, d1 = bin.d1;
    const V w = S::sub(bin.x1, bin.x0), h = S::sub(bin.y1, bin.y0);
    const V rw = S::div(one, w);
    const V s = S::mul(h, rw);
    const V xi = S::mul(S::sub(p, bin.x0), rw);
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
    // dL/dtheta = a (N_theta - q D_theta) + bm M_theta - c D_theta for theta in s, xi, d0, d1.
    auto through = [&](V n_theta, V d_theta, V m_theta) {
      return S::fmadd(a, S::fnmadd(q, d_theta, n_theta),
                      S::fnmadd(c, d_theta, S::mul(bm, m_theta)));
    };
    const V g_s =
        S::add(through(xx, S::fnmadd(two, t, one), S::add(t, t)), S::div(S::add(g_l, g_l), s));
    const V m_xi = S::mul(two, S::fmadd(d1, xi, S::fnmadd(d0, om, S::mul(s, m2xi))));
    const V g_xi = through(S::fmadd(s2, xi, S::mul(d0, m2xi)), S::mul(c2, m2xi), m_xi);
    const V g_h = S::fmadd(g_s, rw, S::mul(g_y, q));
    const V g_w = S::mul(S::fmadd(g_s, s, S::mul(g_xi, xi)), S::sub(S::zero(), rw));
    const V gx = S::mul(g_xi, rw);
    // Tails: the identity's cotangent; NaN stays NaN.
    const V tail = S::select_gt(S::abs(u), S::set1(T(-1)), g_y_in, u);
    return {S::select_gt(in, half, gx, tail),
            S::sub(S::sub(S::zero(), gx), g_w),
            g_w,
            S::sub(g_y, g_h),
            g_h,
            through(t, t, S::mul(om, om)),
            through(S::zero(), t, xx)};
  }

  // ---- shared knots ------------------------------------------------------------------------

  static V load_count(const T* p, index_t count) {
    return count == VL ? S::load(p) : S::load_partial(p, count);
  }
  static void store_count(T* p, V v, index_t count) {
    if (count == VL) {
      S::store(p, v);
    } else {
      S::store_partial(p, v, count);
    }
  }

  static void map_shared(index_t rows, index_t dims, index_t bins, index_t stride, const T* xt,
                         const T* yt, const T* dt, const T* v, bool inverse, T* out, T* logd) {
    for (index_t i = 0; i < rows; ++i) {
      for (index_t j = 0; j < dims; j += VL) {
        const index_t count = dims - j < VL ? dims - j : VL;
        const Lanes k{xt + j, yt + j, dt + j, stride, bins};
        V o, l;
        spline_lanes(k, load_count(v + i * dims + j, count), inverse, o, l);
        store_count(out + i * dims + j, o, count);
        store_count(logd + i * dims + j, l, count);
      }
    }
  }

  // Adds lane l's cotangents of knots index and index + 1 to g[m * stride + l]: the bins
  // of the lanes differ, so every knot row takes a select of the two.
  static void scatter(T* g, index_t stride, index_t bins, V index, V low, V high) {
    const V half = S::set1(T(0.5));
    for (index_t m = 0; m <= bins; ++m) {
      const V at = S::abs(S::sub(index, S::set1(T(m))));          // 0: low goes here
      const V before = S::abs(S::sub(index, S::set1(T(m - 1))));  // 0: high goes here
      const V add = S::add(S::select_gt(half, at, low, S::zero()),
                           S::select_gt(half, before, high, S::zero()));
      S::store(g + m * stride, S::add(S::load(g + m * stride), add));
    }
  }

  static void backward_shared(index_t rows, index_t dims, index_t bins, index_t stride, const T* xt,
                              const T* yt, const T* dt, const T* x, const T* grad_out,
                              const T* grad_log, T* grad_x, T* gxt, T* gyt, T* gdt) {
    for (index_t i = 0; i < rows; ++i) {
      for (index_t j = 0; j < dims; j += VL) {
        const index_t count = dims - j < VL ? dims - j : VL;
        const index_t at = i * dims + j;
        const Lanes k{xt + j, yt + j, dt + j, stride, bins};
        V index;
        // Lanes past count read zero cotangents: they add nothing to the padding.
        const Grads g =
            gradient_lanes(k, load_count(x + at, count), load_count(grad_out + at, count),
                           load_count(grad_log + at, count), index);
        store_count(grad_x + at, g.x, count);
        scatter(gxt + j, stride, bins, index, g.xa, g.xb);
        scatter(gyt + j, stride, bins, index, g.ya, g.yb);
        scatter(gdt + j, stride, bins, index, g.da, g.db);
      }
    }
  }

  // ---- per-row knots -----------------------------------------------------------------------

  // Knot rows held per array in the per-row kernels' lane-major scratch: set rounded up to
  // whole VL x VL blocks, so that every block is stored and loaded whole (a copy of a
  // variable number of rows would become a slow memcpy).
  static index_t lane_rows(index_t set) { return (set + VL - 1) / VL * VL; }

  // Lane-major copy of `count` consecutive knot sets of `set` values (src: row-major sets)
  // into dst (knot m of lane l at m * VL + l); missing lanes get zeros.
  static void to_lanes(index_t count, index_t set, const T* src, T* dst) {
    V r[VL];
    for (index_t c = 0; c < set; c += VL) {
      const index_t width = set - c < VL ? set - c : VL;
      // Whole-vector loads where they stay inside the sets (masked loads are much slower);
      // what they read past the set lands in padding rows, which nothing reads.
      const index_t end = count * set;
      for (index_t l = 0; l < VL; ++l) {
        const index_t at = l * set + c;
        r[l] = at + VL <= end ? S::load(src + at)
               : l < count    ? S::load_partial(src + at, width)
                              : S::zero();
      }
      S::transpose(r);
      for (index_t m = 0; m < VL; ++m) S::store(dst + (c + m) * VL, r[m]);
    }
  }

  // The inverse of to_lanes: lane-major src back into `count` row-major sets. Whole-vector
  // stores where they stay inside the group's sets: the blocks go from the last to the first,
  // so what a store writes past its set's block is rewritten by the next set's own earlier
  // block (masked stores are much slower).
  static void from_lanes(index_t count, index_t set, const T* src, T* dst) {
    V r[VL];
    const index_t end = count * set;
    for (index_t c = (set - 1) / VL * VL; c >= 0; c -= VL) {
      const index_t width = set - c < VL ? set - c : VL;
      for (index_t m = 0; m < VL; ++m) r[m] = S::load(src + (c + m) * VL);
      S::transpose(r);
      for (index_t l = 0; l < count; ++l) {
        const index_t at = l * set + c;
        if (at + VL <= end) {
          S::store(dst + at, r[l]);
        } else {
          S::store_partial(dst + at, r[l], width);
        }
      }
    }
  }

  // Faults of the first `count` lanes (the others hold zero sets).
  static T count_faults(V bad, index_t count) {
    if (count == VL) return S::reduce_add(bad);
    T lanes[VL];
    S::store(lanes, bad);
    T sum = T(0);
    for (index_t l = 0; l < count; ++l) sum += lanes[l];
    return sum;
  }

  static bool map_rows(index_t total, index_t bins, const T* v, const T* xk, const T* yk,
                       const T* dk, bool inverse, T* out, T* logd) {
    const index_t set = bins + 1, block = lane_rows(set) * VL;
    std::vector<T> scratch(static_cast<std::size_t>(3 * block));
    const Lanes k{scratch.data(), scratch.data() + block, scratch.data() + 2 * block, VL, bins};
    T bad = T(0);
    for (index_t f = 0; f < total; f += VL) {
      const index_t count = total - f < VL ? total - f : VL;
      to_lanes(count, set, xk + f * set, scratch.data());
      to_lanes(count, set, yk + f * set, scratch.data() + block);
      to_lanes(count, set, dk + f * set, scratch.data() + 2 * block);
      bad += count_faults(faults(k), count);
      V o, l;
      spline_lanes(k, load_count(v + f, count), inverse, o, l);
      store_count(out + f, o, count);
      store_count(logd + f, l, count);
    }
    return bad == T(0);
  }

  static bool backward_rows(index_t total, index_t bins, const T* x, const T* xk, const T* yk,
                            const T* dk, const T* grad_out, const T* grad_log, T* grad_x, T* gxk,
                            T* gyk, T* gdk) {
    const index_t set = bins + 1, block = lane_rows(set) * VL;
    std::vector<T> scratch(static_cast<std::size_t>(6 * block));
    T* lanes = scratch.data();
    T* grads = lanes + 3 * block;
    const Lanes k{lanes, lanes + block, lanes + 2 * block, VL, bins};
    T bad = T(0);
    for (index_t f = 0; f < total; f += VL) {
      const index_t count = total - f < VL ? total - f : VL;
      to_lanes(count, set, xk + f * set, lanes);
      to_lanes(count, set, yk + f * set, lanes + block);
      to_lanes(count, set, dk + f * set, lanes + 2 * block);
      bad += count_faults(faults(k), count);
      V index;
      const Grads g = gradient_lanes(k, load_count(x + f, count), load_count(grad_out + f, count),
                                     load_count(grad_log + f, count), index);
      store_count(grad_x + f, g.x, count);
      for (index_t q = 0; q < 3 * block; q += VL) S::store(grads + q, S::zero());
      scatter(grads, VL, bins, index, g.xa, g.xb);
      scatter(grads + block, VL, bins, index, g.ya, g.yb);
      scatter(grads + 2 * block, VL, bins, index, g.da, g.db);
      from_lanes(count, set, grads, gxk + f * set);
      from_lanes(count, set, grads + block, gyk + f * set);
      from_lanes(count, set, grads + 2 * block, gdk + f * set);
    }
    return bad == T(0);
  }

  static constexpr spline::Kernels<T> kernels() {
    return {&check, &map_shared, &map_rows, &backward_shared, &backward_rows};
  }
};

inline constexpr spline::Table spline_table{kIsa, SplineImpl<float>::kernels(),
                                            SplineImpl<double>::kernels()};

}  // namespace revcore::detail::REVCORE_ISA
