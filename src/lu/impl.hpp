// The lane kernels of the LU family (triangular solves on packed panels, single-vector solves,
// the panel factorization), written once over the SIMD layer. Each ISA's translation unit
// includes its simd/<isa>.hpp, then this header, and builds its table with lu_table below.
//
// Compiled with -ffp-contract=fast on the avx2/avx512 paths (cmake/isa.cmake): the vector
// code places its FMAs explicitly, but the scalar tails and the auto-vectorised column updates
// of the panel factorization rely on the contraction for their speed (and their rounding).
#pragma once

#ifndef REVCORE_ISA
#error "include the ISA's simd/<isa>.hpp before this header"
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>

#include "lu/kernels.hpp"

namespace revcore::detail::REVCORE_ISA {

// NV vectors per packed row (RB = VL * NV lanes), MR rows of the triangle per register block:
// the k loop loads NV vectors of X[k] and broadcasts MR values of T, for MR * NV independent
// FMA chains.
template <class S, const lu::Blocking& B>
struct Solver {
  using T = typename S::T;
  using V = typename S::V;
  static constexpr int VL = S::VL;
  static constexpr int NV = B.NV;
  static constexpr int MR = B.MR;
  static constexpr index_t RB = index_t(VL) * NV;

  static inline V load(const T* p) { return S::load(p); }
  static inline void store(T* p, const V& v) { S::store(p, v); }
  // The lanes summed in order (not a tree), as the scalar loops they replace.
  static inline T hsum(const V& v) {
    alignas(64) T lane[VL];
    S::store(lane, v);
    T s = 0;
    for (int l = 0; l < VL; ++l) s += lane[l];
    return s;
  }

  // Rows i0 .. i0 + R of a lower solve, once rows 0 .. i0 are final.
  template <int R>
  static void lower_block(index_t i0, bool unit, const T* t, index_t rs, index_t cs, T* x) {
    V acc[R][NV];
    for (int q = 0; q < R; ++q)
      for (int v = 0; v < NV; ++v) acc[q][v] = load(x + (i0 + q) * RB + v * VL);
    const T* tr = t + i0 * rs;
    for (index_t k = 0; k < i0; ++k) {
      V xk[NV];
      for (int v = 0; v < NV; ++v) xk[v] = load(x + k * RB + v * VL);
      for (int q = 0; q < R; ++q) {
        const V s = S::set1(tr[q * rs + k * cs]);
        for (int v = 0; v < NV; ++v) acc[q][v] = S::fnmadd(s, xk[v], acc[q][v]);
      }
    }
    for (int q = 0; q < R; ++q) {
      for (int p = 0; p < q; ++p) {
        const V s = S::set1(tr[q * rs + (i0 + p) * cs]);
        for (int v = 0; v < NV; ++v) acc[q][v] = S::fnmadd(s, acc[p][v], acc[q][v]);
      }
      if (!unit) {
        // One scalar division, then products: a vector division per row would sit on the
        // block's serial chain.
        const V d = S::set1(T(1) / tr[q * rs + (i0 + q) * cs]);
        for (int v = 0; v < NV; ++v) acc[q][v] = S::mul(acc[q][v], d);
      }
      for (int v = 0; v < NV; ++v) store(x + (i0 + q) * RB + v * VL, acc[q][v]);
    }
  }

  // Rows i0 .. i0 + R of an upper solve of order n, once rows i0 + R .. n are final.
  template <int R>
  static void upper_block(index_t n, index_t i0, bool unit, const T* t, index_t rs, index_t cs,
                          T* x) {
    V acc[R][NV];
    for (int q = 0; q < R; ++q)
      for (int v = 0; v < NV; ++v) acc[q][v] = load(x + (i0 + q) * RB + v * VL);
    const T* tr = t + i0 * rs;
    for (index_t k = i0 + R; k < n; ++k) {
      V xk[NV];
      for (int v = 0; v < NV; ++v) xk[v] = load(x + k * RB + v * VL);
      for (int q = 0; q < R; ++q) {
        const V s = S::set1(tr[q * rs + k * cs]);
        for (int v = 0; v < NV; ++v) acc[q][v] = S::fnmadd(s, xk[v], acc[q][v]);
      }
    }
    for (int q = R - 1; q >= 0; --q) {
      for (int p = q + 1; p < R; ++p) {
        const V s = S::set1(tr[q * rs + (i0 + p) * cs]);
        for (int v = 0; v < NV; ++v) acc[q][v] = S::fnmadd(s, acc[p][v], acc[q][v]);
      }
      if (!unit) {
        // One scalar division, then products: a vector division per row would sit on the
        // block's serial chain.
        const V d = S::set1(T(1) / tr[q * rs + (i0 + q) * cs]);
        for (int v = 0; v < NV; ++v) acc[q][v] = S::mul(acc[q][v], d);
      }
      for (int v = 0; v < NV; ++v) store(x + (i0 + q) * RB + v * VL, acc[q][v]);
    }
  }

  template <int R = MR>
  static void lower_tail(index_t r, index_t i0, bool unit, const T* t, index_t rs, index_t cs,
                         T* x) {
    if constexpr (R > 0) {
      if (r == R) return lower_block<R>(i0, unit, t, rs, cs, x);
      lower_tail<R - 1>(r, i0, unit, t, rs, cs, x);
    }
  }
  template <int R = MR>
  static void upper_tail(index_t r, index_t n, index_t i0, bool unit, const T* t, index_t rs,
                         index_t cs, T* x) {
    if constexpr (R > 0) {
      if (r == R) return upper_block<R>(n, i0, unit, t, rs, cs, x);
      upper_tail<R - 1>(r, n, i0, unit, t, rs, cs, x);
    }
  }

  static void packed_lower(index_t n, bool unit, const T* t, index_t rs, index_t cs, T* x) {
    index_t i0 = 0;
    for (; i0 + MR <= n; i0 += MR) lower_block<MR>(i0, unit, t, rs, cs, x);
    if (i0 < n) lower_tail(n - i0, i0, unit, t, rs, cs, x);
  }
  static void packed_upper(index_t n, bool unit, const T* t, index_t rs, index_t cs, T* x) {
    index_t i1 = n;
    for (; i1 >= MR; i1 -= MR) upper_block<MR>(n, i1 - MR, unit, t, rs, cs, x);
    if (i1 > 0) upper_tail(i1, n, 0, unit, t, rs, cs, x);
  }

  // y[0:len] -= s * a[0:len], contiguous.
  static inline void axpy(index_t len, T s, const T* a, T* y) {
    index_t k = 0;
    const V sv = S::set1(s);
    for (; k + VL <= len; k += VL) store(y + k, S::fnmadd(sv, load(a + k), load(y + k)));
    for (; k < len; ++k) y[k] -= s * a[k];
  }

  // s[q] = sum_{k < len} t[q * rs + k] x[k] for q < 4: four rows of T share each load of x.
  static inline void dot4(index_t len, const T* t, index_t rs, const T* x, T* s) {
    V a0 = S::zero(), a1 = S::zero(), a2 = S::zero(), a3 = S::zero();
    index_t k = 0;
    for (; k + VL <= len; k += VL) {
      const V xk = load(x + k);
      a0 = S::fmadd(load(t + k), xk, a0);
      a1 = S::fmadd(load(t + rs + k), xk, a1);
      a2 = S::fmadd(load(t + 2 * rs + k), xk, a2);
      a3 = S::fmadd(load(t + 3 * rs + k), xk, a3);
    }
    s[0] = hsum(a0), s[1] = hsum(a1), s[2] = hsum(a2), s[3] = hsum(a3);
    for (; k < len; ++k)
      for (int q = 0; q < 4; ++q) s[q] += t[q * rs + k] * x[k];
  }

  // One right-hand side: dot products along contiguous rows of T (cs == 1), four rows at a
  // time; axpys along contiguous columns (rs == 1); plain loops otherwise.
  static void vector_lower(index_t n, bool unit, const T* t, index_t rs, index_t cs, T* x) {
    if (rs == 1 && cs != 1) {
      for (index_t k = 0; k < n; ++k) {
        if (!unit) x[k] /= t[k * cs + k];
        axpy(n - k - 1, x[k], t + k * cs + k + 1, x + k + 1);
      }
      return;
    }
    index_t i0 = 0;
    if (cs == 1)
      for (; i0 + 4 <= n; i0 += 4) {
        T s[4];
        dot4(i0, t + i0 * rs, rs, x, s);
        for (int q = 0; q < 4; ++q) {
          const T* ti = t + (i0 + q) * rs;
          T v = x[i0 + q] - s[q];
          for (int p = 0; p < q; ++p) v -= ti[i0 + p] * x[i0 + p];
          x[i0 + q] = unit ? v : v / ti[i0 + q];
        }
      }
    for (index_t i = i0; i < n; ++i) {
      const T* ti = t + i * rs;
      T s = 0;
      for (index_t k = 0; k < i; ++k) s += ti[k * cs] * x[k];
      x[i] = unit ? x[i] - s : (x[i] - s) / ti[i * cs];
    }
  }
  static void vector_upper(index_t n, bool unit, const T* t, index_t rs, index_t cs, T* x) {
    if (rs == 1 && cs != 1) {
      for (index_t k = n - 1; k >= 0; --k) {
        if (!unit) x[k] /= t[k * cs + k];
        axpy(k, x[k], t + k * cs, x);
      }
      return;
    }
    index_t i1 = n;
    if (cs == 1)
      for (; i1 >= 4; i1 -= 4) {
        const index_t i0 = i1 - 4;
        T s[4];
        dot4(n - i1, t + i0 * rs + i1, rs, x + i1, s);
        for (int q = 3; q >= 0; --q) {
          const T* ti = t + (i0 + q) * rs;
          T v = x[i0 + q] - s[q];
          for (int p = q + 1; p < 4; ++p) v -= ti[i0 + p] * x[i0 + p];
          x[i0 + q] = unit ? v : v / ti[i0 + q];
        }
      }
    for (index_t i = i1 - 1; i >= 0; --i) {
      const T* ti = t + i * rs;
      T s = 0;
      for (index_t k = i + 1; k < n; ++k) s += ti[k * cs] * x[k];
      x[i] = unit ? x[i] - s : (x[i] - s) / ti[i * cs];
    }
  }

  // Column-oriented solves (t[i + k * cs] = T(i, k)): R columns are finished in registers,
  // then every remaining row is updated by them, two rows per step for independent chains.
  template <int R>
  static void cols_update(index_t i0, index_t i1, const T* tc, index_t cs, const V (&xk)[R][NV],
                          T* x) {
    index_t i = i0;
    for (; i + 2 <= i1; i += 2) {
      V a0[NV], a1[NV];
      for (int v = 0; v < NV; ++v) a0[v] = load(x + i * RB + v * VL);
      for (int v = 0; v < NV; ++v) a1[v] = load(x + (i + 1) * RB + v * VL);
      for (int q = 0; q < R; ++q) {
        const V s0 = S::set1(tc[q * cs + i]), s1 = S::set1(tc[q * cs + i + 1]);
        for (int v = 0; v < NV; ++v) a0[v] = S::fnmadd(s0, xk[q][v], a0[v]);
        for (int v = 0; v < NV; ++v) a1[v] = S::fnmadd(s1, xk[q][v], a1[v]);
      }
      for (int v = 0; v < NV; ++v) store(x + i * RB + v * VL, a0[v]);
      for (int v = 0; v < NV; ++v) store(x + (i + 1) * RB + v * VL, a1[v]);
    }
    for (; i < i1; ++i) {
      V a0[NV];
      for (int v = 0; v < NV; ++v) a0[v] = load(x + i * RB + v * VL);
      for (int q = 0; q < R; ++q) {
        const V s0 = S::set1(tc[q * cs + i]);
        for (int v = 0; v < NV; ++v) a0[v] = S::fnmadd(s0, xk[q][v], a0[v]);
      }
      for (int v = 0; v < NV; ++v) store(x + i * RB + v * VL, a0[v]);
    }
  }

  template <int R>
  static void lower_cols_block(index_t n, index_t k0, bool unit, const T* t, index_t cs, T* x) {
    V xk[R][NV];
    for (int q = 0; q < R; ++q)
      for (int v = 0; v < NV; ++v) xk[q][v] = load(x + (k0 + q) * RB + v * VL);
    for (int q = 0; q < R; ++q) {
      for (int p = 0; p < q; ++p) {
        const V s = S::set1(t[(k0 + q) + (k0 + p) * cs]);
        for (int v = 0; v < NV; ++v) xk[q][v] = S::fnmadd(s, xk[p][v], xk[q][v]);
      }
      if (!unit) {
        const V d = S::set1(T(1) / t[(k0 + q) + (k0 + q) * cs]);
        for (int v = 0; v < NV; ++v) xk[q][v] = S::mul(xk[q][v], d);
      }
      for (int v = 0; v < NV; ++v) store(x + (k0 + q) * RB + v * VL, xk[q][v]);
    }
    cols_update<R>(k0 + R, n, t + k0 * cs, cs, xk, x);
  }

  template <int R>
  static void upper_cols_block(index_t k0, bool unit, const T* t, index_t cs, T* x) {
    V xk[R][NV];
    for (int q = 0; q < R; ++q)
      for (int v = 0; v < NV; ++v) xk[q][v] = load(x + (k0 + q) * RB + v * VL);
    for (int q = R - 1; q >= 0; --q) {
      for (int p = q + 1; p < R; ++p) {
        const V s = S::set1(t[(k0 + q) + (k0 + p) * cs]);
        for (int v = 0; v < NV; ++v) xk[q][v] = S::fnmadd(s, xk[p][v], xk[q][v]);
      }
      if (!unit) {
        const V d = S::set1(T(1) / t[(k0 + q) + (k0 + q) * cs]);
        for (int v = 0; v < NV; ++v) xk[q][v] = S::mul(xk[q][v], d);
      }
      for (int v = 0; v < NV; ++v) store(x + (k0 + q) * RB + v * VL, xk[q][v]);
    }
    cols_update<R>(0, k0, t + k0 * cs, cs, xk, x);
  }

  template <int R = MR>
  static void lower_cols_tail(index_t r, index_t n, index_t k0, bool unit, const T* t, index_t cs,
                              T* x) {
    if constexpr (R > 0) {
      if (r == R) return lower_cols_block<R>(n, k0, unit, t, cs, x);
      lower_cols_tail<R - 1>(r, n, k0, unit, t, cs, x);
    }
  }
  template <int R = MR>
  static void upper_cols_tail(index_t r, bool unit, const T* t, index_t cs, T* x) {
    if constexpr (R > 0) {
      if (r == R) return upper_cols_block<R>(0, unit, t, cs, x);
      upper_cols_tail<R - 1>(r, unit, t, cs, x);
    }
  }

  static void packed_lower_cols(index_t n, bool unit, const T* t, index_t cs, T* x) {
    index_t k0 = 0;
    for (; k0 + MR <= n; k0 += MR) lower_cols_block<MR>(n, k0, unit, t, cs, x);
    if (k0 < n) lower_cols_tail(n - k0, n, k0, unit, t, cs, x);
  }
  static void packed_upper_cols(index_t n, bool unit, const T* t, index_t cs, T* x) {
    index_t k1 = n;
    for (; k1 >= MR; k1 -= MR) upper_cols_block<MR>(k1 - MR, unit, t, cs, x);
    if (k1 > 0) upper_cols_tail(k1, unit, t, cs, x);
  }

  // x - x is 0 for finite x and NaN otherwise: per-lane partial sums, checked once.
  static bool packed_affine_inverse(index_t n, T* x, const T* bias, bool leaky, T inv) {
    V probe[NV];
    for (int v = 0; v < NV; ++v) probe[v] = S::zero();
    const V vinv = S::set1(inv);
    for (index_t j = 0; j < n; ++j) {
      const V b = S::set1(bias ? bias[j] : T(0));
      T* row = x + j * RB;
      for (int v = 0; v < NV; ++v) {
        const V y = load(row + v * VL);
        probe[v] = S::add(probe[v], S::sub(y, y));
        // min(y * inv, y): y when either is NaN.
        const V z = leaky ? S::min(S::mul(y, vinv), y) : y;
        store(row + v * VL, S::sub(z, b));
      }
    }
    return finite_sum(probe);
  }
  static bool packed_all_finite(index_t n, const T* x) {
    V probe[NV];
    for (int v = 0; v < NV; ++v) probe[v] = S::zero();
    for (index_t j = 0; j < n; ++j)
      for (int v = 0; v < NV; ++v) {
        const V y = load(x + j * RB + v * VL);
        probe[v] = S::add(probe[v], S::sub(y, y));
      }
    return finite_sum(probe);
  }
  // Every lane of every probe is 0 or NaN; the sum is 0 exactly when all are 0.
  static bool finite_sum(const V (&probe)[NV]) {
    V s = probe[0];
    for (int v = 1; v < NV; ++v) s = S::add(s, probe[v]);
    return hsum(s) == T(0);
  }
};

// Unblocked LU of a narrow panel (the leaves of lu_factor's recursion). The panel is m x w,
// column-major in a contiguous buffer (column c at x + c * ld), so the pivot search, the
// scaling and the rank-1 updates all run down contiguous columns.
template <class S>
struct Panel {
  using T = typename S::T;
  using V = typename S::V;
  static constexpr int VL = S::VL;
  // Rows per pass: each chunk of a column is updated by every later column while in L1,
  // and the next pivot column's maximum is taken on the same pass.
  static constexpr index_t kChunk = 256;

  // Largest |y[i]| for i < len (NaN-blind: a NaN never wins, so garbage in gives a valid
  // index out).
  static inline T max_abs(index_t len, const T* y) {
    V m0 = S::zero(), m1 = S::zero();
    index_t i = 0;
    for (; i + 2 * VL <= len; i += 2 * VL) {
      m0 = S::max(S::abs(S::load(y + i)), m0);
      m1 = S::max(S::abs(S::load(y + i + VL)), m1);
    }
    alignas(64) T lane[VL];
    S::store(lane, S::max(m1, m0));
    T best = 0;
    for (int l = 0; l < VL; ++l) best = lane[l] > best ? lane[l] : best;
    for (; i < len; ++i) best = std::abs(y[i]) > best ? std::abs(y[i]) : best;
    return best;
  }

  // Updates the running (best, index) of the search over column y, rows [i0, i1), keeping
  // the first index of the largest value as LAPACK's i?amax.
  static inline void search(index_t i0, index_t i1, const T* y, T& best, index_t& p) {
    const T chunk = max_abs(i1 - i0, y + i0);
    if (chunk > best || p < 0) {
      for (index_t i = i0; i < i1; ++i)
        if (std::abs(y[i]) == chunk) {
          best = chunk, p = i;
          return;
        }
      if (p < 0) best = chunk, p = i0;  // NaN chunk
    }
  }

  static index_t factor(index_t m, index_t w, T* x, index_t ld, std::int32_t* piv) {
    index_t info = 0;
    T best = 0;
    index_t p = -1;
    for (index_t i0 = 0; i0 < m; i0 += kChunk) search(i0, std::min(m, i0 + kChunk), x, best, p);
    for (index_t j = 0; j < w; ++j) {
      T* cj = x + j * ld;
      piv[j] = static_cast<std::int32_t>(p);
      if (p != j)
        for (index_t c = 0; c < w; ++c) std::swap(x[c * ld + j], x[c * ld + p]);
      const T pivot = cj[j];
      const index_t next = j + 1;
      T* cn = x + next * ld;
      best = 0, p = -1;
      if (pivot == T(0)) {
        // Column j is zero from row j down: nothing to eliminate.
        if (info == 0) info = j + 1;
        if (next < w)
          for (index_t i0 = next; i0 < m; i0 += kChunk)
            search(i0, std::min(m, i0 + kChunk), cn, best, p);
        continue;
      }
      // As getf2: multiply by the reciprocal unless it would overflow.
      const bool reciprocal = std::abs(pivot) >= std::numeric_limits<T>::min();
      const T r = T(1) / pivot;
      for (index_t i0 = next; i0 < m; i0 += kChunk) {
        const index_t i1 = std::min(m, i0 + kChunk);
        if (reciprocal)
          for (index_t i = i0; i < i1; ++i) cj[i] *= r;
        else
          for (index_t i = i0; i < i1; ++i) cj[i] /= pivot;
        for (index_t c = next; c < w; ++c) {
          T* cc = x + c * ld;
          const T u = cc[j];
          for (index_t i = i0; i < i1; ++i) cc[i] -= cj[i] * u;
        }
        if (next < w) search(i0, i1, cn, best, p);
      }
    }
    return info;
  }
};

template <typename T, const lu::Blocking& B>
constexpr lu::Kernels<T> make_lu_kernels() {
  using Sv = LaneSimd<T>;
  using K = Solver<Sv, B>;
  return {K::RB,
          &K::packed_lower,
          &K::packed_upper,
          &K::vector_lower,
          &K::vector_upper,
          &Panel<Sv>::factor,
          &K::packed_lower_cols,
          &K::packed_upper_cols,
          &K::packed_affine_inverse,
          &K::packed_all_finite};
}

// The table of this ISA for its float and double blocking rows.
template <const lu::Blocking& F32, const lu::Blocking& F64>
inline constexpr lu::Table lu_table{kIsa, make_lu_kernels<float, F32>(),
                                    make_lu_kernels<double, F64>()};

}  // namespace revcore::detail::REVCORE_ISA
