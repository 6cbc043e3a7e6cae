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

// Elements below which a step stays on the calling thread: the pass is bound by memory
// traffic (7 loads and stores per element), and waking a worker costs 10-50 us, about the
// time of 2^17 elements on one thread. Measure again with
// python benchmarks/bench_optim.py --threads 2.
constexpr index_t kParallelMinElements = index_t(1) << 17;

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
