// Long kernels that Ctrl-C can stop: the GIL is released while they run, and every ~50 ms
// (revcore::cancelled(), src/cancel.hpp) the calling thread re-acquires it to run Python's
// signal handlers. When one raises (KeyboardInterrupt), the kernels stop at their next check
// and the exception propagates. Work whose rows are independent is cut into blocks of about
// kBlockFlops here, so a check falls between blocks without touching the kernels; lu_factor
// checks between its panels.
#pragma once

#include <algorithm>

#include "bindings.hpp"
#include "common/cancel.hpp"

namespace revcore::bind {

constexpr double kBlockFlops = 2e8;  // ~20-50 ms with the portable GEMM

inline bool poll_signals(void*) {
  py::gil_scoped_acquire acquire;
  return PyErr_CheckSignals() != 0;  // the handler's exception stays set for the caller
}

// f() with the GIL released; rethrows the exception of a signal handler that stopped it.
template <typename F>
void run_interruptible(F&& f) {
  CancelScope scope(&poll_signals, nullptr);
  {
    py::gil_scoped_release release;
    f();
  }
  if (scope.cancelled()) throw py::error_already_set();
}

// Fewest items per block: each block re-packs the other operand of a GEMM (k x n for a row
// block), which costs about 1 / (2 * rows) of the block's flops.
constexpr index_t kMinBlockItems = 256;

// body(begin, end) over [0, n) in blocks of about kBlockFlops (flops_per_item each, at least
// kMinBlockItems items), stopping early once cancelled(). Items must be independent (rows of
// a product, right-hand sides).
template <typename F>
void for_blocks(index_t n, double flops_per_item, F&& body) {
  index_t block = n;
  if (flops_per_item * static_cast<double>(n) > kBlockFlops)
    block = std::max<index_t>(kMinBlockItems, static_cast<index_t>(kBlockFlops / flops_per_item));
  for (index_t begin = 0; begin < n && !cancelled(); begin += block)
    body(begin, std::min(n, begin + block));
}

}  // namespace revcore::bind
