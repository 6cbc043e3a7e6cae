// The one pool of worker threads shared by every kernel family, and the thread-count setting.
#pragma once

#include <algorithm>
#include <atomic>
#include <functional>
#include <optional>

#include "common/cancel.hpp"
#include "common/common.hpp"

namespace revcore {

// Threads used by the kernels (>= 1). Thread-safe. The initial value is REVCORE_NUM_THREADS
// when set to 1..1024, else the number of hardware threads.
void set_num_threads(int n);
int get_num_threads();

namespace detail {

using PoolTask = std::function<void(int index)>;

// Runs task(0) on the caller and task(1..count-1) on persistent workers, returning when all are
// done (rethrowing the first exception). Returns false, having run nothing, when the pool is
// busy (another thread of the process is inside a parallel region, or this thread is: a nested
// region then runs on its own thread) or in a fork()ed child, whose copy of the pool has no
// threads. One parallel region at a time.
bool pool_try_run(int count, const PoolTask& task);

// Calls f(begin, end, part) on `parts` contiguous slices of [0, count), on the pool when
// get_num_threads() > 1 and the caller judged the work worth a thread (`worth_threads`);
// otherwise (or when the pool is busy) f(0, count, 0) on the calling thread. Slices are
// disjoint, so f needs no synchronisation for data indexed by them.
template <class F>
void parallel_ranges(index_t count, bool worth_threads, F&& f) {
  if (count <= 0) return;
  const index_t parts =
      worth_threads ? std::min<index_t>(count, std::max(1, get_num_threads())) : 1;
  if (parts > 1) {
    auto slice = [&](index_t p) { return count * p / parts; };
    const PoolTask task = [&](int p) { f(slice(p), slice(p + 1), index_t(p)); };
    if (pool_try_run(static_cast<int>(parts), task)) return;
  }
  f(index_t(0), count, index_t(0));
}

// body(p) for the parts p = 0 .. parts-1, claimed one at a time from a counter by up to
// `threads` members of the pool, so a member that starts late (other jobs on the machine)
// takes fewer parts instead of holding up the caller. Only the caller polls for a
// cancellation; it stops the others through a flag that their own cancelled() sees, within a
// part too. Returns false, having run nothing, when the pool is busy.
template <class F>
bool claim_parts(index_t parts, int threads, F&& body) {
  std::atomic<index_t> next{0};
  std::atomic<bool> stop{false};
  const PoolTask task = [&](int member) {
    std::optional<CancelScope> scope;
    if (member != 0) scope.emplace(&poll_flag, static_cast<void*>(&stop));
    for (index_t p = next.fetch_add(1); p < parts && !stop.load(std::memory_order_relaxed);
         p = next.fetch_add(1)) {
      body(p);
      if (member == 0 && cancelled()) stop.store(true, std::memory_order_relaxed);
    }
  };
  return pool_try_run(static_cast<int>(std::min<index_t>(threads, parts)), task);
}

}  // namespace detail
}  // namespace revcore
