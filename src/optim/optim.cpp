// Optimiser front end: the choice of kernel path (once, common/dispatch.hpp) and the split
// over the thread pool.
#include "optim/optim.hpp"

#include <algorithm>

#include "common/dispatch.hpp"
#include "common/thread_pool.hpp"
#include "optim/kernels.hpp"

namespace revcore {

namespace {

using detail::optim::Table;

const Table& chosen() {
  static const Table& table = detail::dispatch<Table>(
      &detail::optim::table_generic, &detail::optim::table_avx2, &detail::optim::table_avx512);
  return table;
}

// Elements below which a step stays on the calling thread. The pass is bound by memory
// traffic (7 loads and stores per element), and on these machines one core already draws
// the memory bandwidth: measured with 2 threads against 1 on single arrays of 2^12 to 2^23
// elements and on 9M (the classifier's flat buffer), 2 threads took 0.2-0.6x below 2^16
// elements (waking a worker costs about 5 us) and 0.5-1.3x, median below 1, above. So only
// arrays larger than any measured (16M elements and up) are split.
constexpr index_t kParallelMinElements = index_t(1) << 24;

// Slices of whole cache lines, so that threads never share one.
constexpr index_t kGrain = 64;

}  // namespace

template <typename T>
void adam_step(index_t n, T* p, const T* g, T* m, T* v, const AdamScalars<T>& scalars) {
  if (n <= 0) return;
  const auto& K = chosen().of<T>();
  const index_t grains = (n + kGrain - 1) / kGrain;
  detail::parallel_ranges(grains, n >= kParallelMinElements, [&](index_t b0, index_t b1, index_t) {
    const index_t i0 = b0 * kGrain, i1 = std::min(n, b1 * kGrain);
    K.adam(i1 - i0, p + i0, g + i0, m + i0, v + i0, scalars);
  });
}

template void adam_step<float>(index_t, float*, const float*, float*, float*,
                               const AdamScalars<float>&);
template void adam_step<double>(index_t, double*, const double*, double*, double*,
                                const AdamScalars<double>&);

}  // namespace revcore
