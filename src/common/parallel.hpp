// A minimal fork-join over independent index ranges for the LU family's kernels.
#pragma once

#include <algorithm>
#include <thread>
#include <vector>

#include "common/common.hpp"
#include "gemm/gemm.hpp"

namespace revcore::detail {

// Calls f(begin, end, part) on `parts` contiguous slices of [0, count), in parallel when
// get_num_threads() > 1 and the caller judged the work worth a thread (`worth_threads`).
// Slices are disjoint, so f needs no synchronisation for data indexed by them.
template <class F>
void parallel_ranges(index_t count, bool worth_threads, F&& f) {
  const index_t parts =
      worth_threads ? std::min<index_t>(count, std::max(1, get_num_threads())) : 1;
  if (parts <= 1) {
    if (count > 0) f(index_t(0), count, index_t(0));
    return;
  }
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(parts - 1));
  auto slice = [&](index_t p) { return count * p / parts; };
  for (index_t p = 1; p < parts; ++p)
    threads.emplace_back([&, p] { f(slice(p), slice(p + 1), p); });
  f(slice(0), slice(1), index_t(0));
  for (auto& t : threads) t.join();
}

}  // namespace revcore::detail
