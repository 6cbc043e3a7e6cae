// Portable one-lane "vector" for the generic GEMM path: plain scalar code the compiler may
// auto-vectorise for the baseline instruction set. Same interface as simd_avx2.hpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "common/common.hpp"

namespace revcore::detail::generic {

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

template <typename T_>
struct Simd {
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
  static V blend_on_sign(V x, V if_nonneg, V if_neg) { return std::signbit(x) ? if_neg : if_nonneg; }
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

}  // namespace revcore::detail::generic
