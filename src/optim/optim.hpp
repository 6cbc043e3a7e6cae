// Optimiser steps over flat parameter arrays, updated in place in one pass.
#pragma once

#include "common/common.hpp"

namespace revcore {

// The scalars of one Adam step, each already rounded to T as the numpy reference rounds a
// Python float: step_size = rate / (1 - beta1^t), correction2 = 1 - beta2^t.
template <typename T>
struct AdamScalars {
  T beta1, one_minus_beta1, beta2, one_minus_beta2, step_size, correction2, eps;
};

// One Adam step over n contiguous elements of the parameters p, their gradients g and the
// moment estimates m, v (p, m, v updated in place; g read only). Per element, each operation
// rounded in T and in the reference's order:
//   m = m beta1 + (1 - beta1) g
//   v = v beta2 + ((1 - beta2) g) g
//   p = p - (step_size m) / (sqrt(v / correction2) + eps)
// Large arrays are split over the thread pool (common/thread_pool.hpp).
template <typename T>
void adam_step(index_t n, T* p, const T* g, T* m, T* v, const AdamScalars<T>& scalars);

}  // namespace revcore
