// The optimiser kernels of one instruction set, as a table of function pointers; optim.cpp
// picks a table once (common/dispatch.hpp) and forwards to it.
#pragma once

#include "common/common.hpp"
#include "common/dispatch.hpp"
#include "optim/optim.hpp"

namespace revcore::detail::optim {

template <typename T>
struct Kernels {
  // One Adam step over n contiguous elements on the calling thread (see optim.hpp).
  void (*adam)(index_t n, T* p, const T* g, T* m, T* v, const AdamScalars<T>& scalars);
};

using Table = KernelTable<Kernels>;

// Null when the instruction set is not compiled in (other targets or compilers).
const Table* table_generic();
const Table* table_avx2();
const Table* table_avx512();

}  // namespace revcore::detail::optim
