// AVX-512 (F, DQ, VL, BW) + FMA vectors for the GEMM kernels and activations.
#pragma once

// GCC 12's avx512fintrin.h self-initialises its "undefined" vectors, which trips a false
// -Wmaybe-uninitialized / -Wuninitialized in the masked, shuffle and reduction intrinsics.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif

#include "common/common.hpp"
#include "simd/isa.hpp"

#ifdef REVCORE_ISA
#error "one SIMD backend per translation unit"
#endif
// The namespace of everything compiled for this instruction set (the family's impl.hpp and
// simd/vecmath.hpp open revcore::detail::REVCORE_ISA).
#define REVCORE_ISA avx512
#if !REVCORE_TU_AVX512
#error "simd/avx512.hpp needs the avx512 flags (cmake/isa.cmake)"
#endif

namespace revcore::detail::avx512 {

inline constexpr const char kIsa[] = "avx512";

template <typename T>
struct Simd;

template <>
struct Simd<float> {
  using T = float;
  using V = __m512;
  static constexpr int VL = 16;

  static V zero() { return _mm512_setzero_ps(); }
  static V set1(T x) { return _mm512_set1_ps(x); }
  static V load(const T* p) { return _mm512_loadu_ps(p); }
  static void store(T* p, V v) { _mm512_storeu_ps(p, v); }
  static __mmask16 tail_mask(index_t count) { return static_cast<__mmask16>((1u << count) - 1u); }
  static V load_partial(const T* p, index_t count) {
    return _mm512_maskz_loadu_ps(tail_mask(count), p);
  }
  static void store_partial(T* p, V v, index_t count) {
    _mm512_mask_storeu_ps(p, tail_mask(count), v);
  }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V fnmadd(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }
  // min, max: b when either is NaN (the x86 rule; the math functions rely on it).
  static V min(V a, V b) { return _mm512_min_ps(a, b); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static V abs(V a) { return _mm512_abs_ps(a); }
  static V sqrt(V a) { return _mm512_sqrt_ps(a); }  // correctly rounded
  static V copysign(V mag, V sgn) {
    // Bitwise select (0xCA: a ? b : c) of the sign bit from sgn, the rest from mag.
    const __m512i sign_bit = _mm512_castps_si512(_mm512_set1_ps(-0.0f));
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(sign_bit, _mm512_castps_si512(sgn),
                                                         _mm512_castps_si512(mag), 0xCA));
  }
  // 1/x to about 1 ulp for finite nonzero normal x: rcp14 and Newton steps.
  static V recip(V x) {
    V r = _mm512_rcp14_ps(x);
    r = _mm512_fmadd_ps(r, _mm512_fnmadd_ps(x, r, _mm512_set1_ps(1)), r);
    return r;
  }
  // if_neg where x has its sign bit set, if_nonneg elsewhere.
  static V blend_on_sign(V x, V if_nonneg, V if_neg) {
    return _mm512_mask_blend_ps(_mm512_movepi32_mask(_mm512_castps_si512(x)), if_nonneg, if_neg);
  }
  static V round(V x) {
    return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  static V scale2(V p, V n) { return _mm512_scalef_ps(p, n); }
  // x = m 2^e with m in [1, 2) for finite x > 0 (subnormals too); returns m and sets e.
  static V split_exponent(V x, V& e) {
    e = _mm512_getexp_ps(x);
    return _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
  }
  static V select_gt(V a, V b, V if_gt, V otherwise) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_GT_OQ), otherwise, if_gt);
  }
  // Bit i set where lane i is not inside the open interval (lo, hi); NaN is outside.
  static unsigned outside(V v, V lo, V hi) {
    const unsigned ok =
        _mm512_cmp_ps_mask(v, lo, _CMP_GT_OQ) & _mm512_cmp_ps_mask(v, hi, _CMP_LT_OQ);
    return ~ok & 0xFFFFu;
  }
  static T reduce_add(V v) { return _mm512_reduce_add_ps(v); }
  // In-register transpose of a VL x VL block: r[i][j] -> r[j][i].
  static void transpose(V* r) {
    V t[16], u[16];
    for (int i = 0; i < 8; ++i) {
      t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // u[4q + s], 128-bit lane l: rows 4q..4q+3 of column 4l + s.
    for (int q = 0; q < 4; ++q) {
      const __m512d a = _mm512_castps_pd(t[4 * q]), b = _mm512_castps_pd(t[4 * q + 1]);
      const __m512d c = _mm512_castps_pd(t[4 * q + 2]), d = _mm512_castps_pd(t[4 * q + 3]);
      u[4 * q] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
      u[4 * q + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
      u[4 * q + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
      u[4 * q + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int s = 0; s < 4; ++s) {
      const V x0 = _mm512_shuffle_f32x4(u[s], u[4 + s], 0x44);
      const V x1 = _mm512_shuffle_f32x4(u[s], u[4 + s], 0xEE);
      const V y0 = _mm512_shuffle_f32x4(u[8 + s], u[12 + s], 0x44);
      const V y1 = _mm512_shuffle_f32x4(u[8 + s], u[12 + s], 0xEE);
      r[s] = _mm512_shuffle_f32x4(x0, y0, 0x88);
      r[4 + s] = _mm512_shuffle_f32x4(x0, y0, 0xDD);
      r[8 + s] = _mm512_shuffle_f32x4(x1, y1, 0x88);
      r[12 + s] = _mm512_shuffle_f32x4(x1, y1, 0xDD);
    }
  }
};

template <>
struct Simd<double> {
  using T = double;
  using V = __m512d;
  static constexpr int VL = 8;

  static V zero() { return _mm512_setzero_pd(); }
  static V set1(T x) { return _mm512_set1_pd(x); }
  static V load(const T* p) { return _mm512_loadu_pd(p); }
  static void store(T* p, V v) { _mm512_storeu_pd(p, v); }
  static __mmask8 tail_mask(index_t count) { return static_cast<__mmask8>((1u << count) - 1u); }
  static V load_partial(const T* p, index_t count) {
    return _mm512_maskz_loadu_pd(tail_mask(count), p);
  }
  static void store_partial(T* p, V v, index_t count) {
    _mm512_mask_storeu_pd(p, tail_mask(count), v);
  }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  static V sub(V a, V b) { return _mm512_sub_pd(a, b); }
  static V mul(V a, V b) { return _mm512_mul_pd(a, b); }
  static V div(V a, V b) { return _mm512_div_pd(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V fnmadd(V a, V b, V c) { return _mm512_fnmadd_pd(a, b, c); }
  static V min(V a, V b) { return _mm512_min_pd(a, b); }
  static V max(V a, V b) { return _mm512_max_pd(a, b); }
  static V abs(V a) { return _mm512_abs_pd(a); }
  static V sqrt(V a) { return _mm512_sqrt_pd(a); }  // correctly rounded
  static V copysign(V mag, V sgn) {
    // Bitwise select (0xCA: a ? b : c) of the sign bit from sgn, the rest from mag.
    const __m512i sign_bit = _mm512_castpd_si512(_mm512_set1_pd(-0.0));
    return _mm512_castsi512_pd(_mm512_ternarylogic_epi64(sign_bit, _mm512_castpd_si512(sgn),
                                                         _mm512_castpd_si512(mag), 0xCA));
  }
  // 1/x to about 1 ulp for finite nonzero normal x: rcp14 and Newton steps.
  static V recip(V x) {
    V r = _mm512_rcp14_pd(x);
    r = _mm512_fmadd_pd(r, _mm512_fnmadd_pd(x, r, _mm512_set1_pd(1)), r);
    r = _mm512_fmadd_pd(r, _mm512_fnmadd_pd(x, r, _mm512_set1_pd(1)), r);
    return r;
  }
  // if_neg where x has its sign bit set, if_nonneg elsewhere.
  static V blend_on_sign(V x, V if_nonneg, V if_neg) {
    return _mm512_mask_blend_pd(_mm512_movepi64_mask(_mm512_castpd_si512(x)), if_nonneg, if_neg);
  }
  static V round(V x) {
    return _mm512_roundscale_pd(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  static V scale2(V p, V n) { return _mm512_scalef_pd(p, n); }
  // x = m 2^e with m in [1, 2) for finite x > 0 (subnormals too); returns m and sets e.
  static V split_exponent(V x, V& e) {
    e = _mm512_getexp_pd(x);
    return _mm512_getmant_pd(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
  }
  static V select_gt(V a, V b, V if_gt, V otherwise) {
    return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(a, b, _CMP_GT_OQ), otherwise, if_gt);
  }
  // Bit i set where lane i is not inside the open interval (lo, hi); NaN is outside.
  static unsigned outside(V v, V lo, V hi) {
    const unsigned ok =
        _mm512_cmp_pd_mask(v, lo, _CMP_GT_OQ) & _mm512_cmp_pd_mask(v, hi, _CMP_LT_OQ);
    return ~ok & 0xFFu;
  }
  static T reduce_add(V v) { return _mm512_reduce_add_pd(v); }
  static void transpose(V* r) {
    V t[8];
    for (int i = 0; i < 4; ++i) {
      t[2 * i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]);
    }
    // t[2q + s], 128-bit lane l: rows 2q, 2q+1 of column 2l + s.
    for (int s = 0; s < 2; ++s) {
      const V x0 = _mm512_shuffle_f64x2(t[s], t[2 + s], 0x44);
      const V x1 = _mm512_shuffle_f64x2(t[s], t[2 + s], 0xEE);
      const V y0 = _mm512_shuffle_f64x2(t[4 + s], t[6 + s], 0x44);
      const V y1 = _mm512_shuffle_f64x2(t[4 + s], t[6 + s], 0xEE);
      r[s] = _mm512_shuffle_f64x2(x0, y0, 0x88);
      r[2 + s] = _mm512_shuffle_f64x2(x0, y0, 0xDD);
      r[4 + s] = _mm512_shuffle_f64x2(x1, y1, 0x88);
      r[6 + s] = _mm512_shuffle_f64x2(x1, y1, 0xDD);
    }
  }
};

// The vector of the lane-parallel kernels (the LU family's packed panels).
template <typename T>
using LaneSimd = Simd<T>;

}  // namespace revcore::detail::avx512

#include "simd/vecmath.hpp"
