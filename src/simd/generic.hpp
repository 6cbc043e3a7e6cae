// Portable vectors for the generic path. Simd<T> is one lane: plain scalar code the compiler
// may auto-vectorise for the baseline instruction set, with the full interface of
// simd/avx2.hpp (the GEMM and the activations). Simd<T, W> with W > 1 is W lanes held in an
// array, with the arithmetic subset the LU kernels use: every operation is a fixed-length
// loop that compilers turn into the baseline vectors (SSE2, NEON), and the lanes keep
// independent values, so results do not depend on W.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "common/common.hpp"
#include "simd/isa.hpp"

#ifdef REVCORE_ISA
#error "one SIMD backend per translation unit"
#endif
// The namespace of everything compiled for this instruction set (the family's impl.hpp and
// simd/vecmath.hpp open revcore::detail::REVCORE_ISA).
#define REVCORE_ISA generic

namespace revcore::detail::generic {

inline constexpr const char kIsa[] = "generic";

template <typename T>
struct ScalarBits;
template <>
struct ScalarBits<float> {
  using U = std::uint32_t;
  static constexpr int mantissa = 23;
  static constexpr int bias = 127;
};
template <>
struct ScalarBits<double> {
  using U = std::uint64_t;
  static constexpr int mantissa = 52;
  static constexpr int bias = 1023;
};

template <typename T_, int W = 1>
struct Simd;

template <typename T_>
struct Simd<T_, 1> {
  using T = T_;
  using V = T_;
  static constexpr int VL = 1;

  static V zero() { return T(0); }
  static V set1(T x) { return x; }
  static V load(const T* p) { return *p; }
  static void store(T* p, V v) { *p = v; }
  static V load_partial(const T* p, index_t) { return *p; }
  static void store_partial(T* p, V v, index_t) { *p = v; }
  static V add(V a, V b) { return a + b; }
  static V sub(V a, V b) { return a - b; }
  static V mul(V a, V b) { return a * b; }
  static V div(V a, V b) { return a / b; }
  static V fmadd(V a, V b, V c) { return a * b + c; }
  static V fnmadd(V a, V b, V c) { return c - a * b; }
  // min, max: b when either is NaN, as on x86 (the math functions rely on it).
  static V min(V a, V b) { return a < b ? a : b; }
  static V max(V a, V b) { return a > b ? a : b; }
  static V abs(V a) { return std::fabs(a); }
  static V sqrt(V a) { return std::sqrt(a); }
  static V copysign(V mag, V sgn) { return std::copysign(mag, sgn); }
  // Round to nearest for |x| < 2^(mantissa-1), the only range the math functions use.
  static V round(V x) {
    const T magic = T(1.5) * T(std::uint64_t(1) << ScalarBits<T>::mantissa);
    volatile T shifted = x + magic;  // volatile keeps the compiler from folding the pair away
    return shifted - magic;
  }
  // p * 2^n for integral n; split in two factors so results down to the subnormal range and
  // up to overflow are reached without forming an out-of-range exponent.
  static V scale2(V p, V n) {
    if (n != n) return n;
    const T n1 = std::floor(n * T(0.5));
    return p * pow2(n1) * pow2(n - n1);
  }
  static V recip(V x) { return T(1) / x; }
  static V blend_on_sign(V x, V if_nonneg, V if_neg) {
    return std::signbit(x) ? if_neg : if_nonneg;
  }
  static T reduce_add(V v) { return v; }
  // x = m 2^e with m in [1, 2) for finite normal x > 0; returns m and sets e.
  static V split_exponent(V x, V& e) {
    using U = typename ScalarBits<T>::U;
    constexpr int mb = ScalarBits<T>::mantissa;
    U b;
    std::memcpy(&b, &x, sizeof b);
    e = T(static_cast<std::int64_t>(b >> mb) - ScalarBits<T>::bias);
    b = (b & ((U(1) << mb) - 1)) | (U(ScalarBits<T>::bias) << mb);
    std::memcpy(&x, &b, sizeof b);
    return x;
  }
  static V select_gt(V a, V b, V if_gt, V otherwise) { return a > b ? if_gt : otherwise; }
  // Bit i set where lane i is not inside the open interval (lo, hi); NaN is outside.
  static unsigned outside(V v, V lo, V hi) { return !(v > lo && v < hi); }
  static void transpose(V*) {}

 private:
  static T pow2(T n) {
    using U = typename ScalarBits<T>::U;
    const U bits = U(static_cast<std::int64_t>(n) + ScalarBits<T>::bias) << ScalarBits<T>::mantissa;
    T r;
    std::memcpy(&r, &bits, sizeof r);
    return r;
  }
};

template <typename T_, int W>
struct Simd {
  using T = T_;
  struct V {
    T lane[W];
  };
  static constexpr int VL = W;

  static V zero() { return set1(T(0)); }
  static V set1(T x) {
    V r;
    for (int l = 0; l < W; ++l) r.lane[l] = x;
    return r;
  }
  static V load(const T* p) {
    V r;
    std::memcpy(r.lane, p, sizeof r.lane);
    return r;
  }
  static void store(T* p, const V& v) { std::memcpy(p, v.lane, sizeof v.lane); }
  static V add(const V& a, const V& b) {
    return map(a, b, [](T x, T y) { return x + y; });
  }
  static V sub(const V& a, const V& b) {
    return map(a, b, [](T x, T y) { return x - y; });
  }
  static V mul(const V& a, const V& b) {
    return map(a, b, [](T x, T y) { return x * y; });
  }
  static V fmadd(const V& a, const V& b, const V& c) {
    V r;
    for (int l = 0; l < W; ++l) r.lane[l] = a.lane[l] * b.lane[l] + c.lane[l];
    return r;
  }
  static V fnmadd(const V& a, const V& b, const V& c) {
    V r;
    for (int l = 0; l < W; ++l) r.lane[l] = c.lane[l] - a.lane[l] * b.lane[l];
    return r;
  }
  // As the one-lane versions: b when either is NaN.
  static V min(const V& a, const V& b) {
    return map(a, b, [](T x, T y) { return x < y ? x : y; });
  }
  static V max(const V& a, const V& b) {
    return map(a, b, [](T x, T y) { return x > y ? x : y; });
  }
  static V abs(const V& a) {
    return map(a, a, [](T x, T) { return std::fabs(x); });
  }
  static V sqrt(const V& a) {
    return map(a, a, [](T x, T) { return std::sqrt(x); });
  }

 private:
  template <class F>
  static V map(const V& a, const V& b, F f) {
    V r;
    for (int l = 0; l < W; ++l) r.lane[l] = f(a.lane[l], b.lane[l]);
    return r;
  }
};

// The vector of the lane-parallel kernels (the LU family's packed panels): 16 bytes of lanes,
// the baseline vector width of x86-64 (SSE2) and AArch64 (NEON).
template <typename T>
using LaneSimd = Simd<T, 16 / static_cast<int>(sizeof(T))>;

}  // namespace revcore::detail::generic

#include "simd/vecmath.hpp"
