// Portable reference GEMM. The packed, dispatched kernels replace this file (issue 5).
#include "gemm.hpp"

#include <atomic>
#include <thread>
#include <vector>

#include "activation.hpp"

namespace revcore {

template <typename T>
void gemm(index_t m, index_t n, index_t k, T alpha, const T* a, index_t rsa, index_t csa,
          const T* b, index_t rsb, index_t csb, T beta, T* c, index_t rsc, index_t csc) {
  std::vector<T> row(static_cast<std::size_t>(n));
  for (index_t i = 0; i < m; ++i) {
    for (index_t j = 0; j < n; ++j) row[j] = T(0);
    for (index_t p = 0; p < k; ++p) {
      const T aip = a[i * rsa + p * csa];
      const T* bp = b + p * rsb;
      for (index_t j = 0; j < n; ++j) row[j] += aip * bp[j * csb];
    }
    T* ci = c + i * rsc;
    for (index_t j = 0; j < n; ++j)
      ci[j * csc] = beta == T(0) ? alpha * row[j] : alpha * row[j] + beta * ci[j * csc];
  }
}

template <typename T>
void gemm_bias_act(index_t m, index_t n, index_t k, const T* a, index_t rsa, index_t csa,
                   const T* b, index_t rsb, index_t csb, T* c, index_t rsc, index_t csc,
                   const T* bias, Activation act, T negative_slope) {
  gemm<T>(m, n, k, T(1), a, rsa, csa, b, rsb, csb, T(0), c, rsc, csc);
  std::vector<T> row(static_cast<std::size_t>(n));
  for (index_t i = 0; i < m; ++i) {
    T* ci = c + i * rsc;
    for (index_t j = 0; j < n; ++j) row[j] = ci[j * csc] + (bias ? bias[j] : T(0));
    activation_forward<T>(n, row.data(), row.data(), act, negative_slope);
    for (index_t j = 0; j < n; ++j) ci[j * csc] = row[j];
  }
}

namespace {
std::atomic<int> g_num_threads{1};
}

void set_num_threads(int n) { g_num_threads.store(n < 1 ? 1 : n); }
int get_num_threads() { return g_num_threads.load(); }

#define REVCORE_INSTANTIATE(T)                                                                 \
  template void gemm<T>(index_t, index_t, index_t, T, const T*, index_t, index_t, const T*,    \
                        index_t, index_t, T, T*, index_t, index_t);                            \
  template void gemm_bias_act<T>(index_t, index_t, index_t, const T*, index_t, index_t,        \
                                 const T*, index_t, index_t, T*, index_t, index_t, const T*,   \
                                 Activation, T);
REVCORE_INSTANTIATE(float)
REVCORE_INSTANTIATE(double)
#undef REVCORE_INSTANTIATE

}  // namespace revcore
