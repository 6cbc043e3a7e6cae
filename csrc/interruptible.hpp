// Long kernels that Ctrl-C can stop: the GIL is released while they run, and every ~50 ms
// (revcore::cancelled(), src/cancel.hpp) the calling thread re-acquires it to run Python's
// signal handlers. When one raises (KeyboardInterrupt), the kernels stop at their next check
// and the exception propagates. Work whose rows are independent is cut into blocks of about
// kBlockFlops (for_blocks, common/cancel.hpp), so a check falls between blocks without
// touching the kernels; lu_factor checks between its panels and the GEMM between its cache
// blocks (matmul and dense call it once: blocks of rows would each pack B again).
#pragma once

#include "bindings.hpp"
#include "common/cancel.hpp"

namespace revcore::bind {

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

}  // namespace revcore::bind
