// AVX2 + FMA vectors for the GEMM kernels and activations (compile with -mavx2 -mfma).
#pragma once

#include <immintrin.h>

#include "common/common.hpp"
#include "simd/isa.hpp"

#ifdef REVCORE_ISA
#error "one SIMD backend per translation unit"
#endif
// The namespace of everything compiled for this instruction set (the family's impl.hpp and
// simd/vecmath.hpp open revcore::detail::REVCORE_ISA).
#define REVCORE_ISA avx2
#if !REVCORE_TU_AVX2
#error "simd/avx2.hpp needs the avx2 flags (cmake/isa.cmake)"
#endif

namespace revcore::detail::avx2 {

inline constexpr const char kIsa[] = "avx2";

template <typename T>
struct Simd;

template <>
struct Simd<float> {
  using T = float;
  using V = __m256;
  static constexpr int VL = 8;

  static V zero() { return _mm256_setzero_ps(); }
  static V set1(T x) { return _mm256_set1_ps(x); }
  static V load(const T* p) { return _mm256_loadu_ps(p); }
  static void store(T* p, V v) { _mm256_storeu_ps(p, v); }
  static __m256i tail_mask(index_t count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V load_partial(const T* p, index_t count) {
    return _mm256_maskload_ps(p, tail_mask(count));
  }
  static void store_partial(T* p, V v, index_t count) {
    _mm256_maskstore_ps(p, tail_mask(count), v);
  }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V fnmadd(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }
  // min, max: b when either is NaN (the x86 rule; the math functions rely on it).
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static V abs(V a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static V sqrt(V a) { return _mm256_sqrt_ps(a); }  // correctly rounded
  static V copysign(V mag, V sgn) {
    const V sign_bit = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_and_ps(sign_bit, sgn), _mm256_andnot_ps(sign_bit, mag));
  }
  static V round(V x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static V pow2(V n) {
    const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
  }
  static V scale2(V p, V n) {
    const V n1 = _mm256_floor_ps(_mm256_mul_ps(n, _mm256_set1_ps(0.5f)));
    return _mm256_mul_ps(_mm256_mul_ps(p, pow2(n1)), pow2(_mm256_sub_ps(n, n1)));
  }
  // 1/x to about 1 ulp for finite nonzero normal x: rcp (12 bits) and two Newton steps.
  static V recip(V x) {
    const V one = _mm256_set1_ps(1.0f);
    V r = _mm256_rcp_ps(x);
    r = _mm256_fmadd_ps(r, _mm256_fnmadd_ps(x, r, one), r);
    return _mm256_fmadd_ps(r, _mm256_fnmadd_ps(x, r, one), r);
  }
  // if_neg where x has its sign bit set, if_nonneg elsewhere.
  static V blend_on_sign(V x, V if_nonneg, V if_neg) {
    return _mm256_blendv_ps(if_nonneg, if_neg, x);
  }
  // x = m 2^e with m in [1, 2) for finite normal x > 0; returns m and sets e.
  static V split_exponent(V x, V& e) {
    const __m256i b = _mm256_castps_si256(x);
    e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(b, 23), _mm256_set1_epi32(127)));
    return _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(b, _mm256_set1_epi32(0x007fffff)),
                                               _mm256_set1_epi32(0x3f800000)));
  }
  static V select_gt(V a, V b, V if_gt, V otherwise) {
    return _mm256_blendv_ps(otherwise, if_gt, _mm256_cmp_ps(a, b, _CMP_GT_OQ));
  }
  // Bit i set where lane i is not inside the open interval (lo, hi); NaN is outside.
  static unsigned outside(V v, V lo, V hi) {
    const V ok = _mm256_and_ps(_mm256_cmp_ps(v, lo, _CMP_GT_OQ), _mm256_cmp_ps(v, hi, _CMP_LT_OQ));
    return ~static_cast<unsigned>(_mm256_movemask_ps(ok)) & 0xFFu;
  }
  static T reduce_add(V v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  // In-register transpose of a VL x VL block: r[i][j] -> r[j][i].
  static void transpose(V* r) {
    V t[8], u[8];
    for (int i = 0; i < 4; ++i) {
      t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // u[4q + s], 128-bit lane l: rows 4q..4q+3 of column 4l + s.
    for (int q = 0; q < 2; ++q) {
      u[4 * q] = _mm256_shuffle_ps(t[4 * q], t[4 * q + 2], 0x44);
      u[4 * q + 1] = _mm256_shuffle_ps(t[4 * q], t[4 * q + 2], 0xEE);
      u[4 * q + 2] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0x44);
      u[4 * q + 3] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0xEE);
    }
    for (int s = 0; s < 4; ++s) {
      r[s] = _mm256_permute2f128_ps(u[s], u[4 + s], 0x20);
      r[4 + s] = _mm256_permute2f128_ps(u[s], u[4 + s], 0x31);
    }
  }
};

template <>
struct Simd<double> {
  using T = double;
  using V = __m256d;
  static constexpr int VL = 4;

  static V zero() { return _mm256_setzero_pd(); }
  static V set1(T x) { return _mm256_set1_pd(x); }
  static V load(const T* p) { return _mm256_loadu_pd(p); }
  static void store(T* p, V v) { _mm256_storeu_pd(p, v); }
  static __m256i tail_mask(index_t count) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(count), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static V load_partial(const T* p, index_t count) {
    return _mm256_maskload_pd(p, tail_mask(count));
  }
  static void store_partial(T* p, V v, index_t count) {
    _mm256_maskstore_pd(p, tail_mask(count), v);
  }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
  static V sub(V a, V b) { return _mm256_sub_pd(a, b); }
  static V mul(V a, V b) { return _mm256_mul_pd(a, b); }
  static V div(V a, V b) { return _mm256_div_pd(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V fnmadd(V a, V b, V c) { return _mm256_fnmadd_pd(a, b, c); }
  static V min(V a, V b) { return _mm256_min_pd(a, b); }
  static V max(V a, V b) { return _mm256_max_pd(a, b); }
  static V abs(V a) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), a); }
  static V sqrt(V a) { return _mm256_sqrt_pd(a); }  // correctly rounded
  static V copysign(V mag, V sgn) {
    const V sign_bit = _mm256_set1_pd(-0.0);
    return _mm256_or_pd(_mm256_and_pd(sign_bit, sgn), _mm256_andnot_pd(sign_bit, mag));
  }
  static V round(V x) { return _mm256_round_pd(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static V pow2(V n) {
    const __m256i e =
        _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(n)), _mm256_set1_epi64x(1023));
    return _mm256_castsi256_pd(_mm256_slli_epi64(e, 52));
  }
  static V scale2(V p, V n) {
    const V n1 = _mm256_floor_pd(_mm256_mul_pd(n, _mm256_set1_pd(0.5)));
    return _mm256_mul_pd(_mm256_mul_pd(p, pow2(n1)), pow2(_mm256_sub_pd(n, n1)));
  }
  static V recip(V x) { return _mm256_div_pd(_mm256_set1_pd(1.0), x); }
  static V blend_on_sign(V x, V if_nonneg, V if_neg) {
    return _mm256_blendv_pd(if_nonneg, if_neg, x);
  }
  // x = m 2^e with m in [1, 2) for finite normal x > 0; returns m and sets e. The biased
  // exponent goes to double through the 2^52 trick (AVX2 has no int64 -> double).
  static V split_exponent(V x, V& e) {
    const __m256i b = _mm256_castpd_si256(x);
    const __m256i eb =
        _mm256_or_si256(_mm256_srli_epi64(b, 52), _mm256_set1_epi64x(0x4330000000000000LL));
    e = _mm256_sub_pd(_mm256_castsi256_pd(eb), _mm256_set1_pd(4503599627370496.0 + 1023.0));
    return _mm256_castsi256_pd(
        _mm256_or_si256(_mm256_and_si256(b, _mm256_set1_epi64x(0x000fffffffffffffLL)),
                        _mm256_set1_epi64x(0x3ff0000000000000LL)));
  }
  static V select_gt(V a, V b, V if_gt, V otherwise) {
    return _mm256_blendv_pd(otherwise, if_gt, _mm256_cmp_pd(a, b, _CMP_GT_OQ));
  }
  static unsigned outside(V v, V lo, V hi) {
    const V ok = _mm256_and_pd(_mm256_cmp_pd(v, lo, _CMP_GT_OQ), _mm256_cmp_pd(v, hi, _CMP_LT_OQ));
    return ~static_cast<unsigned>(_mm256_movemask_pd(ok)) & 0xFu;
  }
  static T reduce_add(V v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
  }
  static void transpose(V* r) {
    const V t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
    const V t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
  }
};

// The vector of the lane-parallel kernels (the LU family's packed panels).
template <typename T>
using LaneSimd = Simd<T>;

}  // namespace revcore::detail::avx2

#include "simd/vecmath.hpp"
