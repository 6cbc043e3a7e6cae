// Unblocked LU of a narrow panel (the leaves of lu_factor's recursion), written once over
// GCC vector extensions; included by each ISA's translation unit after lu_solve_impl.hpp.
//
// The panel is m x w, column-major in a contiguous buffer (column c at x + c * ld), so the
// pivot search, the scaling and the rank-1 updates all run down contiguous columns.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "lu/kernels.hpp"

namespace revcore::detail::REVCORE_LU_NS {

template <typename T, int VL>
struct Panel {
  using V = typename VecOf<T, VL>::type;
  // Rows per pass: each chunk of a column is updated by every later column while in L1,
  // and the next pivot column's maximum is taken on the same pass.
  static constexpr index_t kChunk = 256;

  static inline V load(const T* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static inline void store(T* p, const V& v) { std::memcpy(p, &v, sizeof v); }
  static inline V vabs(V v) { return v < V{} ? -v : v; }

  // Largest |y[i]| for i < len (NaN-blind: a NaN never wins, so garbage in gives a valid
  // index out).
  static inline T max_abs(index_t len, const T* y) {
    V m0{}, m1{};
    index_t i = 0;
    for (; i + 2 * VL <= len; i += 2 * VL) {
      const V a = vabs(load(y + i)), b = vabs(load(y + i + VL));
      m0 = a > m0 ? a : m0;
      m1 = b > m1 ? b : m1;
    }
    m0 = m1 > m0 ? m1 : m0;
    T best = 0;
    for (int l = 0; l < VL; ++l) best = m0[l] > best ? m0[l] : best;
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

}  // namespace revcore::detail::REVCORE_LU_NS
