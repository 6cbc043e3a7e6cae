#include "lu.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cancel.hpp"
#include "gemm.hpp"

namespace revcore {

namespace {

// Column block of the right-looking factorization and row block of the triangular solves:
// the diagonal block is solved by loops, everything below it goes through the GEMM.
constexpr index_t kBlock = 64;

template <typename T>
void swap_rows(index_t n, T* a, index_t rsa, index_t csa, index_t i, index_t p) {
  if (i == p) return;
  T* ri = a + i * rsa;
  T* rp = a + p * rsa;
  for (index_t j = 0; j < n; ++j) std::swap(ri[j * csa], rp[j * csa]);
}

// Unblocked solve of a diagonal block; the loop order follows B's faster-varying index.
template <typename T>
void trsm_lower_small(index_t n, index_t nrhs, bool unit, const T* a, index_t rsa, index_t csa,
                      T* b, index_t rsb, index_t csb) {
  if (std::abs(csb) <= std::abs(rsb)) {
    for (index_t j = 0; j < n; ++j) {
      T* bj = b + j * rsb;
      if (!unit) {
        const T d = a[j * rsa + j * csa];
        for (index_t r = 0; r < nrhs; ++r) bj[r * csb] /= d;
      }
      for (index_t i = j + 1; i < n; ++i) {
        const T l = a[i * rsa + j * csa];
        T* bi = b + i * rsb;
        for (index_t r = 0; r < nrhs; ++r) bi[r * csb] -= l * bj[r * csb];
      }
    }
  } else {
    for (index_t r = 0; r < nrhs; ++r) {
      T* x = b + r * csb;
      for (index_t i = 0; i < n; ++i) {
        T s = x[i * rsb];
        const T* ai = a + i * rsa;
        for (index_t j = 0; j < i; ++j) s -= ai[j * csa] * x[j * rsb];
        x[i * rsb] = unit ? s : s / ai[i * csa];
      }
    }
  }
}

template <typename T>
void trsm_upper_small(index_t n, index_t nrhs, bool unit, const T* a, index_t rsa, index_t csa,
                      T* b, index_t rsb, index_t csb) {
  if (std::abs(csb) <= std::abs(rsb)) {
    for (index_t j = n - 1; j >= 0; --j) {
      T* bj = b + j * rsb;
      if (!unit) {
        const T d = a[j * rsa + j * csa];
        for (index_t r = 0; r < nrhs; ++r) bj[r * csb] /= d;
      }
      for (index_t i = 0; i < j; ++i) {
        const T u = a[i * rsa + j * csa];
        T* bi = b + i * rsb;
        for (index_t r = 0; r < nrhs; ++r) bi[r * csb] -= u * bj[r * csb];
      }
    }
  } else {
    for (index_t r = 0; r < nrhs; ++r) {
      T* x = b + r * csb;
      for (index_t i = n - 1; i >= 0; --i) {
        T s = x[i * rsb];
        const T* ai = a + i * rsa;
        for (index_t j = i + 1; j < n; ++j) s -= ai[j * csa] * x[j * rsb];
        x[i * rsb] = unit ? s : s / ai[i * csa];
      }
    }
  }
}

}  // namespace

template <typename T>
void trsm_lower(index_t n, index_t nrhs, bool unit, const T* a, index_t rsa, index_t csa, T* b,
                index_t rsb, index_t csb) {
  for (index_t i0 = 0; i0 < n; i0 += kBlock) {
    const index_t ib = std::min(kBlock, n - i0);
    T* b0 = b + i0 * rsb;
    trsm_lower_small(ib, nrhs, unit, a + i0 * rsa + i0 * csa, rsa, csa, b0, rsb, csb);
    const index_t rest = n - i0 - ib;
    if (rest > 0)
      gemm<T>(rest, nrhs, ib, T(-1), a + (i0 + ib) * rsa + i0 * csa, rsa, csa, b0, rsb, csb,
              T(1), b + (i0 + ib) * rsb, rsb, csb);
  }
}

template <typename T>
void trsm_upper(index_t n, index_t nrhs, bool unit, const T* a, index_t rsa, index_t csa, T* b,
                index_t rsb, index_t csb) {
  for (index_t i1 = n; i1 > 0; i1 -= kBlock) {
    const index_t i0 = std::max<index_t>(0, i1 - kBlock);
    const index_t ib = i1 - i0;
    T* b0 = b + i0 * rsb;
    trsm_upper_small(ib, nrhs, unit, a + i0 * rsa + i0 * csa, rsa, csa, b0, rsb, csb);
    if (i0 > 0)
      gemm<T>(i0, nrhs, ib, T(-1), a + i0 * csa, rsa, csa, b0, rsb, csb, T(1), b, rsb, csb);
  }
}

template <typename T>
index_t lu_factor(index_t m, index_t n, T* a, index_t rsa, index_t csa, std::int32_t* piv) {
  const index_t kmin = std::min(m, n);
  index_t info = 0;
  for (index_t j0 = 0; j0 < kmin; j0 += kBlock) {
    if (cancelled()) break;  // the caller discards the partial factors
    const index_t jb = std::min(kBlock, kmin - j0);
    // Panel: columns j0 .. j0 + jb, rows j0 .. m, factored column by column. Whole rows are
    // swapped at once, which leaves the same result as LAPACK's deferred swaps.
    for (index_t j = j0; j < j0 + jb; ++j) {
      index_t p = j;
      T best = std::abs(a[j * rsa + j * csa]);
      for (index_t i = j + 1; i < m; ++i) {
        const T v = std::abs(a[i * rsa + j * csa]);
        if (v > best) best = v, p = i;
      }
      piv[j] = static_cast<std::int32_t>(p);
      swap_rows(n, a, rsa, csa, j, p);
      const T pivot = a[j * rsa + j * csa];
      if (pivot == T(0)) {
        if (info == 0) info = j + 1;
        continue;
      }
      for (index_t i = j + 1; i < m; ++i) a[i * rsa + j * csa] /= pivot;
      const T* uj = a + j * rsa;
      for (index_t i = j + 1; i < m; ++i) {
        T* ai = a + i * rsa;
        const T l = ai[j * csa];
        for (index_t c = j + 1; c < j0 + jb; ++c) ai[c * csa] -= l * uj[c * csa];
      }
    }
    const index_t right = n - j0 - jb;
    if (right <= 0) continue;
    T* a11 = a + j0 * rsa + j0 * csa;
    T* a12 = a11 + jb * csa;
    trsm_lower(jb, right, true, a11, rsa, csa, a12, rsa, csa);
    const index_t below = m - j0 - jb;
    if (below > 0)
      gemm<T>(below, right, jb, T(-1), a11 + jb * rsa, rsa, csa, a12, rsa, csa, T(1),
              a12 + jb * rsa, rsa, csa);
  }
  return info;
}

template <typename T>
void lu_solve(index_t n, index_t nrhs, const T* lu, index_t rsl, index_t csl,
              const std::int32_t* piv, bool trans, T* b, index_t rsb, index_t csb) {
  if (!trans) {
    for (index_t i = 0; i < n; ++i) swap_rows(nrhs, b, rsb, csb, i, index_t(piv[i]));
    trsm_lower(n, nrhs, true, lu, rsl, csl, b, rsb, csb);
    trsm_upper(n, nrhs, false, lu, rsl, csl, b, rsb, csb);
  } else {
    // A^T = U^T L^T P: U^T is lower and L^T upper, read through swapped strides.
    trsm_lower(n, nrhs, false, lu, csl, rsl, b, rsb, csb);
    trsm_upper(n, nrhs, true, lu, csl, rsl, b, rsb, csb);
    for (index_t i = n - 1; i >= 0; --i) swap_rows(nrhs, b, rsb, csb, i, index_t(piv[i]));
  }
}

template <typename T>
T lu_condition_estimate(index_t n, const T* lu, index_t rsl, index_t csl,
                        const std::int32_t* piv, T norm1) {
  if (n == 0) return T(0);
  for (index_t i = 0; i < n; ++i)
    if (lu[i * rsl + i * csl] == T(0)) return std::numeric_limits<T>::infinity();
  std::vector<T> x(static_cast<std::size_t>(n)), sign(x.size());
  auto solve = [&](bool trans) { lu_solve<T>(n, 1, lu, rsl, csl, piv, trans, x.data(), 1, 1); };
  auto norm = [&] {
    T s = 0;
    for (T v : x) s += std::abs(v);
    return s;
  };
  auto argmax = [&] {
    index_t j = 0;
    for (index_t i = 1; i < n; ++i)
      if (std::abs(x[i]) > std::abs(x[j])) j = i;
    return j;
  };
  // Hager's iteration estimates ||A^-1||_1 as max ||A^-1 x||_1 over unit vectors x.
  std::fill(x.begin(), x.end(), T(1) / T(n));
  solve(false);
  T est = norm();
  if (n > 1) {
    for (index_t i = 0; i < n; ++i) sign[i] = x[i] >= T(0) ? T(1) : T(-1);
    x = sign;
    solve(true);
    index_t j = argmax();
    for (int iter = 2; iter <= 5; ++iter) {
      std::fill(x.begin(), x.end(), T(0));
      x[j] = T(1);
      solve(false);
      const T previous = est;
      est = norm();
      bool same_signs = true;
      for (index_t i = 0; i < n; ++i) {
        const T s = x[i] >= T(0) ? T(1) : T(-1);
        same_signs = same_signs && s == sign[i];
        sign[i] = s;
      }
      if (same_signs || est <= previous) {
        est = std::max(est, previous);
        break;
      }
      x = sign;
      solve(true);
      const index_t last = j;
      j = argmax();
      if (std::abs(x[last]) == std::abs(x[j])) break;
    }
    // Higham's alternating-sign vector catches matrices that fool the iteration.
    for (index_t i = 0; i < n; ++i)
      x[i] = (i % 2 ? T(-1) : T(1)) * (T(1) + T(i) / T(n - 1));
    solve(false);
    est = std::max(est, T(2) * norm() / T(3 * n));
  }
  return norm1 * est;
}

#define REVCORE_INSTANTIATE(T)                                                                 \
  template index_t lu_factor<T>(index_t, index_t, T*, index_t, index_t, std::int32_t*);       \
  template void lu_solve<T>(index_t, index_t, const T*, index_t, index_t, const std::int32_t*, \
                            bool, T*, index_t, index_t);                                       \
  template void trsm_lower<T>(index_t, index_t, bool, const T*, index_t, index_t, T*, index_t, \
                              index_t);                                                        \
  template void trsm_upper<T>(index_t, index_t, bool, const T*, index_t, index_t, T*, index_t, \
                              index_t);                                                        \
  template T lu_condition_estimate<T>(index_t, const T*, index_t, index_t, const std::int32_t*, \
                                      T);
REVCORE_INSTANTIATE(float)
REVCORE_INSTANTIATE(double)
#undef REVCORE_INSTANTIATE

}  // namespace revcore
