// The packed and single-vector triangular solves, written once over GCC vector extensions.
// Each ISA's translation unit defines REVCORE_LU_NS and the register block (VL, NV, MR),
// then includes this file; it is compiled with -ffp-contract=fast so that acc - s * x is
// one FMA where the ISA has it.
#include <cstring>

#include "lu/kernels.hpp"

namespace revcore::detail::REVCORE_LU_NS {

template <typename T, int VL>
struct VecOf {
  typedef T type __attribute__((vector_size(sizeof(T) * VL)));
};

// VL lanes per vector, NV vectors per packed row (RB = VL * NV lanes), MR rows of the
// triangle per register block: the k loop loads NV vectors of X[k] and broadcasts MR values
// of T, for MR * NV independent FMA chains.
template <typename T, int VL, int NV, int MR>
struct Solver {
  using V = typename VecOf<T, VL>::type;
  static constexpr index_t RB = index_t(VL) * NV;

  static inline V load(const T* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static inline void store(T* p, const V& v) { std::memcpy(p, &v, sizeof v); }

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
        const T s = tr[q * rs + k * cs];
        for (int v = 0; v < NV; ++v) acc[q][v] -= s * xk[v];
      }
    }
    for (int q = 0; q < R; ++q) {
      for (int p = 0; p < q; ++p) {
        const T s = tr[q * rs + (i0 + p) * cs];
        for (int v = 0; v < NV; ++v) acc[q][v] -= s * acc[p][v];
      }
      if (!unit) {
        // One scalar division, then products: a vector division per row would sit on the
        // block's serial chain.
        const T d = T(1) / tr[q * rs + (i0 + q) * cs];
        for (int v = 0; v < NV; ++v) acc[q][v] *= d;
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
        const T s = tr[q * rs + k * cs];
        for (int v = 0; v < NV; ++v) acc[q][v] -= s * xk[v];
      }
    }
    for (int q = R - 1; q >= 0; --q) {
      for (int p = q + 1; p < R; ++p) {
        const T s = tr[q * rs + (i0 + p) * cs];
        for (int v = 0; v < NV; ++v) acc[q][v] -= s * acc[p][v];
      }
      if (!unit) {
        // One scalar division, then products: a vector division per row would sit on the
        // block's serial chain.
        const T d = T(1) / tr[q * rs + (i0 + q) * cs];
        for (int v = 0; v < NV; ++v) acc[q][v] *= d;
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

  // sum_k a[k] b[k] for contiguous a, b: four vector accumulators, then the tail.
  static inline T dot(index_t len, const T* a, const T* b) {
    V s0{}, s1{}, s2{}, s3{};
    index_t k = 0;
    for (; k + 4 * VL <= len; k += 4 * VL) {
      s0 += load(a + k) * load(b + k);
      s1 += load(a + k + VL) * load(b + k + VL);
      s2 += load(a + k + 2 * VL) * load(b + k + 2 * VL);
      s3 += load(a + k + 3 * VL) * load(b + k + 3 * VL);
    }
    for (; k + VL <= len; k += VL) s0 += load(a + k) * load(b + k);
    s0 = (s0 + s1) + (s2 + s3);
    T s = 0;
    for (int l = 0; l < VL; ++l) s += s0[l];
    for (; k < len; ++k) s += a[k] * b[k];
    return s;
  }
  // y[0:len] -= s * a[0:len], contiguous.
  static inline void axpy(index_t len, T s, const T* a, T* y) {
    index_t k = 0;
    for (; k + VL <= len; k += VL) store(y + k, load(y + k) - s * load(a + k));
    for (; k < len; ++k) y[k] -= s * a[k];
  }

  static inline T hsum(V v) {
    T s = 0;
    for (int l = 0; l < VL; ++l) s += v[l];
    return s;
  }

  // s[q] = sum_{k < len} t[q * rs + k] x[k] for q < 4: four rows of T share each load of x.
  static inline void dot4(index_t len, const T* t, index_t rs, const T* x, T* s) {
    V a0{}, a1{}, a2{}, a3{};
    index_t k = 0;
    for (; k + VL <= len; k += VL) {
      const V xk = load(x + k);
      a0 += load(t + k) * xk;
      a1 += load(t + rs + k) * xk;
      a2 += load(t + 2 * rs + k) * xk;
      a3 += load(t + 3 * rs + k) * xk;
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
        const T s0 = tc[q * cs + i], s1 = tc[q * cs + i + 1];
        for (int v = 0; v < NV; ++v) a0[v] -= s0 * xk[q][v];
        for (int v = 0; v < NV; ++v) a1[v] -= s1 * xk[q][v];
      }
      for (int v = 0; v < NV; ++v) store(x + i * RB + v * VL, a0[v]);
      for (int v = 0; v < NV; ++v) store(x + (i + 1) * RB + v * VL, a1[v]);
    }
    for (; i < i1; ++i) {
      V a0[NV];
      for (int v = 0; v < NV; ++v) a0[v] = load(x + i * RB + v * VL);
      for (int q = 0; q < R; ++q) {
        const T s0 = tc[q * cs + i];
        for (int v = 0; v < NV; ++v) a0[v] -= s0 * xk[q][v];
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
        const T s = t[(k0 + q) + (k0 + p) * cs];
        for (int v = 0; v < NV; ++v) xk[q][v] -= s * xk[p][v];
      }
      if (!unit) {
        const T d = T(1) / t[(k0 + q) + (k0 + q) * cs];
        for (int v = 0; v < NV; ++v) xk[q][v] *= d;
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
        const T s = t[(k0 + q) + (k0 + p) * cs];
        for (int v = 0; v < NV; ++v) xk[q][v] -= s * xk[p][v];
      }
      if (!unit) {
        const T d = T(1) / t[(k0 + q) + (k0 + q) * cs];
        for (int v = 0; v < NV; ++v) xk[q][v] *= d;
      }
      for (int v = 0; v < NV; ++v) store(x + (k0 + q) * RB + v * VL, xk[q][v]);
    }
    cols_update<R>(0, k0, t + k0 * cs, cs, xk, x);
  }

  template <int R = MR>
  static void lower_cols_tail(index_t r, index_t n, index_t k0, bool unit, const T* t,
                              index_t cs, T* x) {
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
    V probe[NV] = {};
    for (index_t j = 0; j < n; ++j) {
      const T b = bias ? bias[j] : T(0);
      T* row = x + j * RB;
      for (int v = 0; v < NV; ++v) {
        const V y = load(row + v * VL);
        probe[v] += y - y;
        V z = y;
        if (leaky) {
          const V w = y * inv;
          z = w < y ? w : y;
        }
        store(row + v * VL, z - b);
      }
    }
    return finite_sum(probe);
  }
  static bool packed_all_finite(index_t n, const T* x) {
    V probe[NV] = {};
    for (index_t j = 0; j < n; ++j)
      for (int v = 0; v < NV; ++v) {
        const V y = load(x + j * RB + v * VL);
        probe[v] += y - y;
      }
    return finite_sum(probe);
  }
  static bool finite_sum(const V (&probe)[NV]) {
    V s = probe[0];
    for (int v = 1; v < NV; ++v) s += probe[v];
    for (int l = 0; l < VL; ++l)
      if (s[l] != T(0)) return false;
    return true;
  }

  static LuKernels<T> table() {
    return {RB,      &packed_lower, &packed_upper, &vector_lower, &vector_upper, nullptr,
            &packed_lower_cols, &packed_upper_cols, &packed_affine_inverse,
            &packed_all_finite};
  }
};

}  // namespace revcore::detail::REVCORE_LU_NS
