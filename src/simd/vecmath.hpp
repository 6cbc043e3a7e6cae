// Vectorised exp, tanh, sigmoid and the dense-layer activations, written once over a Simd<T>
// backend (simd/generic.hpp, simd/avx2.hpp, simd/avx512.hpp). Included at the end of the
// backend, inside that ISA's namespace (REVCORE_ISA), so every instantiation is compiled with
// its own flags and the linker never merges copies across ISAs.
//
// exp: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2), e^r by its Taylor polynomial
// (degree 7 for float, 13 for double: truncation below 1e-8 resp. 1e-17 relative), then
// scaled by 2^n. tanh uses expm1 so that small |z| loses no digits to cancellation:
// tanh|z| = -e / (2 + e), e = expm1(-2|z|) = 2^n expm1(r) + (2^n - 1). Errors are a few ulp.
#pragma once

#include "common/common.hpp"

namespace revcore::detail::REVCORE_ISA {

template <typename T>
struct MathConstants;

template <>
struct MathConstants<float> {
  static constexpr float exp_hi = 89.0f;    // e^89 overflows to inf
  static constexpr float exp_lo = -104.0f;  // e^-104 underflows to 0
  static constexpr float log2e = 1.44269504088896341f;
  static constexpr float ln2_hi = 0.693359375f;
  static constexpr float ln2_lo = -2.12194440e-4f;
  static constexpr int degree = 7;
  static constexpr int mantissa_bits = 23;
  static constexpr float min_normal = 1.17549435e-38f;
  static constexpr int log_terms = 5;  // z^6 / 13 < 6e-11 for z = s^2 <= 0.0295
};

template <>
struct MathConstants<double> {
  static constexpr double exp_hi = 710.0;
  static constexpr double exp_lo = -746.0;
  static constexpr double log2e = 1.44269504088896338700e+00;
  static constexpr double ln2_hi = 6.93147180369123816490e-01;
  static constexpr double ln2_lo = 1.90821492927058770002e-10;
  static constexpr int degree = 13;
  static constexpr int mantissa_bits = 52;
  static constexpr double min_normal = 2.2250738585072014e-308;
  static constexpr int log_terms = 11;  // z^12 / 25 < 1e-20 for z = s^2 <= 0.0295
};

template <class S>
struct VecMath {
  using T = typename S::T;
  using V = typename S::V;
  using C = MathConstants<T>;

  static constexpr T inverse_factorial(int i) {
    long double f = 1;
    for (int j = 2; j <= i; ++j) f *= j;
    return static_cast<T>(1.0L / f);
  }

  template <int I>
  static constexpr T coefficient = inverse_factorial(I);

  // Horner for sum_{I <= i <= degree} r^(i-I) / i!.
  template <int I>
  static V taylor_tail(V r) {
    if constexpr (I == C::degree) {
      return S::set1(coefficient<I>);
    } else {
      return S::fmadd(taylor_tail<I + 1>(r), r, S::set1(coefficient<I>));
    }
  }

  // Reduces x = n ln2 + r; returns r and sets n.
  static V reduce(V x, V& n) {
    n = S::round(S::mul(x, S::set1(C::log2e)));
    V r = S::fnmadd(n, S::set1(C::ln2_hi), x);
    return S::fnmadd(n, S::set1(C::ln2_lo), r);
  }

  // NaN flows through: the clamps return their second operand for NaN.
  static V exp(V x) {
    const V xc = S::min(S::set1(C::exp_hi), S::max(S::set1(C::exp_lo), x));
    V n;
    const V r = reduce(xc, n);
    return S::scale2(taylor_tail<0>(r), n);
  }

  // expm1 for u in [-80, 0] (2^n stays a normal number).
  static V expm1_negative(V u) {
    V n;
    const V r = reduce(u, n);
    const V q = S::fmadd(S::mul(r, r), taylor_tail<2>(r), r);  // expm1(r)
    const V s = S::scale2(S::set1(T(1)), n);
    return S::fmadd(s, q, S::sub(s, S::set1(T(1))));
  }

  static V tanh(V z) {
    // |z| >= 40 is 1 in both precisions; clamping keeps 2^n normal. 2 + e is in (1, 2].
    const V u = S::max(S::set1(T(-80)), S::mul(S::abs(z), S::set1(T(-2))));
    const V e = expm1_negative(u);
    const V t = S::mul(S::sub(S::zero(), e), S::recip(S::add(S::set1(T(2)), e)));
    return S::copysign(t, z);
  }

  // With e = exp(-|z|) in (0, 1]: 1 / (1 + e) for z >= 0, e / (1 + e) for z < 0; nothing
  // overflows, and sigmoid(-large) underflows to 0.
  static V sigmoid(V z) {
    const V e = exp(S::sub(S::zero(), S::abs(z)));
    const V d = S::recip(S::add(S::set1(T(1)), e));
    return S::blend_on_sign(z, d, S::mul(e, d));
  }

  // ---- Logarithms (added for the activation inverses) -------------------------------------
  // w = 2^e m with m in [sqrt(1/2), sqrt(2)), f = m - 1 (exact), s = f / (2 + f), so that
  // log m = 2 atanh s = f - (f^2/2 - s (f^2/2 + R)), R = sum_k>=1 2 s^2k / (2k + 1) (Taylor;
  // |s| <= 0.1716). The leading term f is exact, so the result is within about 1 ulp.

  // sum_{k <= K} 2 z^(k-1) / (2k + 1) by Horner.
  template <int K>
  static V log_series(V z) {
    if constexpr (K == C::log_terms) {
      return S::set1(T(2.0L / (2 * K + 1)));
    } else {
      return S::fmadd(log_series<K + 1>(z), z, S::set1(T(2.0L / (2 * K + 1))));
    }
  }

  // log(w) + c for finite w > 0 (subnormal too) and a correction |c| of at most a few ulp of 1;
  // other w give unspecified values (no traps).
  static V log_plus(V w, V c) {
    const V below = S::sub(w, S::set1(C::min_normal));  // negative for subnormal w
    const V ws = S::blend_on_sign(below, w, S::mul(w, S::set1(T(1ULL << C::mantissa_bits))));
    V e;
    V m = S::split_exponent(ws, e);
    e = S::blend_on_sign(below, e, S::sub(e, S::set1(T(C::mantissa_bits))));
    const V over = S::sub(S::set1(T(1.41421356237309504880L)), m);  // negative for m > sqrt 2
    m = S::blend_on_sign(over, m, S::mul(m, S::set1(T(0.5))));
    e = S::blend_on_sign(over, e, S::add(e, S::set1(T(1))));
    const V f = S::sub(m, S::set1(T(1)));
    const V s = S::div(f, S::add(S::set1(T(2)), f));
    const V z = S::mul(s, s);
    const V r = S::mul(z, log_series<1>(z));
    const V hfsq = S::mul(S::set1(T(0.5)), S::mul(f, f));
    const V inner = S::fmadd(s, S::add(hfsq, r), S::fmadd(e, S::set1(C::ln2_lo), c));
    return S::fmadd(e, S::set1(C::ln2_hi), S::sub(f, S::sub(hfsq, inner)));
  }

  // log(w) for finite w > 0.
  static V log(V w) { return log_plus(w, S::zero()); }

  // log(1 + u) for finite u > -1: w = 1 + u rounded, its rounding error d recovered exactly
  // (TwoSum), and log(1 + u) = log w + d / w to within the second-order term.
  static V log1p(V u) {
    const V one = S::set1(T(1));
    const V w = S::add(one, u);
    const V ub = S::sub(w, one);
    const V d = S::add(S::sub(one, S::sub(w, ub)), S::sub(u, ub));
    return log_plus(w, S::div(d, w));
  }

  // The ratio w = n / d of n = 2^a mn and d = 2^b md (mn, md in [1, 2)) as 2^e m with m
  // within rounding of [sqrt(1/2), sqrt(2)]: sets e = a - b + k (k in {-1, 0, 1}) and the
  // exact factors sn = 2^-k, sd = 2^k, so that m = mn sn / md = mn / (md sd).
  static void ratio_exponent(V mn, V md, V a_minus_b, V& e, V& sn, V& sd) {
    const V r2 = S::set1(T(1.41421356237309504880L));
    const V one = S::set1(T(1)), two = S::set1(T(2)), half = S::set1(T(0.5));
    const V mnr = S::mul(mn, r2), mdr = S::mul(md, r2);
    e = S::add(a_minus_b,
               S::select_gt(mn, mdr, one, S::select_gt(md, mnr, S::set1(T(-1)), S::zero())));
    sn = S::select_gt(mn, mdr, half, S::select_gt(md, mnr, two, one));
    sd = S::select_gt(mn, mdr, two, S::select_gt(md, mnr, half, one));
  }

  // e ln2 + 2 atanh s for |s| <= 0.18: the log of 2^e (1 + s) / (1 - s).
  static V log_from_ratio(V e, V s) {
    const V z = S::mul(s, s);
    const V r = S::mul(z, log_series<1>(z));  // 2 atanh(s) / s - 2
    const V lo = S::fmadd(s, r, S::mul(e, S::set1(C::ln2_lo)));
    return S::fmadd(e, S::set1(C::ln2_hi), S::add(S::add(s, s), lo));
  }

  // atanh y for |y| < 1, t = |y|: with w = (1 + t) / (1 - t) = 2^e m, atanh t = e ln2 / 2 +
  // atanh s, s = (m - 1) / (m + 1) = ((1 + t) - d') / ((1 + t) + d'), d' = (1 - t) 2^e.
  // 1 - t = d + dl exactly (Fast2Sum) and 1 - d' is exact (d' in [0.7, 2.9]), so the
  // numerator carries one rounding of its own size: s is within ~2 ulp, |s| <= 0.18, and
  // e ln2 / 2 (>= 0.34 when e > 0) dominates. For e = 0 (t <= 0.17) s = t exactly, so small
  // |y| keeps full relative accuracy and atanh(-0) = -0. One division.
  static V atanh(V y) {
    const V one = S::set1(T(1));
    const V t = S::abs(y);
    const V d = S::sub(one, t);
    const V dl = S::sub(S::sub(one, d), t);
    const V n = S::add(one, t);
    V b, e, sn, sd;
    const V md = S::split_exponent(d, b);
    ratio_exponent(n, md, S::sub(S::zero(), b), e, sn, sd);
    const V dp = S::mul(md, sd);  // d 2^e
    const V num = S::sub(S::add(S::sub(one, dp), t), S::scale2(dl, e));
    const V s = S::select_gt(e, S::zero(), S::div(num, S::add(n, dp)), t);
    return S::copysign(S::mul(S::set1(T(0.5)), log_from_ratio(e, s)), y);
  }

  // logit y = log(y / (1 - y)) for 0 < y < 1 (subnormal y too): y = 2^a mn, 1 - y = d + dl
  // exactly with d = 2^b md; w = 2^e m and s = (m - 1) / (m + 1) = (mn' - md - dl')/(mn' + md
  // + dl') with mn' = mn 2^-k and dl' = dl 2^-b, where mn' - md is exact (Sterbenz). So s is
  // within ~2 ulp of its own size and logit keeps its relative accuracy where it crosses 0 at
  // y = 1/2 (e = 0 there). One division.
  static V logit(V y) {
    const V one = S::set1(T(1));
    const V below = S::sub(y, S::set1(C::min_normal));  // negative for subnormal y
    const V ys = S::blend_on_sign(below, y, S::mul(y, S::set1(T(1ULL << C::mantissa_bits))));
    V a, b, e, sn, sd;
    const V mn = S::split_exponent(ys, a);
    a = S::blend_on_sign(below, a, S::sub(a, S::set1(T(C::mantissa_bits))));
    const V d = S::sub(one, y);
    const V dl = S::sub(S::sub(one, d), y);
    const V md = S::split_exponent(d, b);
    ratio_exponent(mn, md, S::sub(a, b), e, sn, sd);
    const V mnp = S::mul(mn, sn);
    const V dlp = S::scale2(dl, S::sub(S::zero(), b));
    const V num = S::sub(S::sub(mnp, md), dlp);
    const V den = S::add(S::add(mnp, md), dlp);
    return log_from_ratio(e, S::div(num, den));
  }

  static V relu(V z) { return S::max(S::zero(), z); }

  // z if z > 0 else slope * z, as max(slope z, z) for slope <= 1 and min for slope > 1; z
  // last so that NaN propagates.
  static V leaky_relu(V z, V slope, bool steep) {
    return steep ? S::min(S::mul(slope, z), z) : S::max(S::mul(slope, z), z);
  }
};

// x[i * ld + j] = f(x[i * ld + j]) for i < rows, j < cols. One call per C tile keeps the
// constants of f in registers across the whole tile.
template <class S, class F>
void map_inplace(typename S::T* x, index_t ld, index_t rows, index_t cols, F f) {
  const index_t full = cols / S::VL * S::VL;
  for (index_t i = 0; i < rows; ++i) {
    typename S::T* row = x + i * ld;
    for (index_t j = 0; j < full; j += S::VL) S::store(row + j, f(S::load(row + j)));
    if (full < cols)
      S::store_partial(row + full, f(S::load_partial(row + full, cols - full)), cols - full);
  }
}

template <class S>
void activation_inplace(typename S::T* x, index_t ld, index_t rows, index_t cols, Activation act,
                        typename S::T slope) {
  using M = VecMath<S>;
  using V = typename S::V;
  switch (act) {
    case Activation::identity:
      return;
    case Activation::relu:
      map_inplace<S>(x, ld, rows, cols, [](V z) { return M::relu(z); });
      return;
    case Activation::leaky_relu: {
      const V s = S::set1(slope);
      if (slope > typename S::T(1))
        map_inplace<S>(x, ld, rows, cols, [s](V z) { return M::leaky_relu(z, s, true); });
      else
        map_inplace<S>(x, ld, rows, cols, [s](V z) { return M::leaky_relu(z, s, false); });
      return;
    }
    case Activation::tanh:
      map_inplace<S>(x, ld, rows, cols, [](V z) { return M::tanh(z); });
      return;
    case Activation::sigmoid:
      map_inplace<S>(x, ld, rows, cols, [](V z) { return M::sigmoid(z); });
      return;
  }
}

template <class S>
void activation_inplace(typename S::T* x, index_t n, Activation act, typename S::T slope) {
  activation_inplace<S>(x, n, 1, n, act, slope);
}

}  // namespace revcore::detail::REVCORE_ISA
