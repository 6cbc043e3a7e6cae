// Synchronisation for a team of threads working through one kernel together (a parallel region
// of the pool in common/thread_pool.hpp): the kernel's work is a sequence of phases of items,
// numbered one after another across all phases. Members claim item numbers from one counter in
// order and count the items they finish; an item waits only until every item of the phases
// before its own is finished. There is no barrier among members: a member that starts late
// (other jobs on the machine) skips the phases already done and holds nobody up, except for
// the items it has claimed. Header-only and free of instruction-set code, so any kernel's
// translation unit can use it.
#pragma once

#include <atomic>
#include <thread>

#include "common/common.hpp"

namespace revcore::detail {

// One step of a wait (spin counts the steps so far): spin briefly, since what is awaited is
// usually a few microseconds away, then give the core away: on a machine shared with other
// jobs the member awaited may be waiting for one.
inline void wait_step(int spin) noexcept {
  if (spin < 4096) {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    __builtin_ia32_pause();
#endif
  } else {
    std::this_thread::yield();
  }
}

class TeamSync {
 public:
  TeamSync() = default;
  TeamSync(const TeamSync&) = delete;
  TeamSync& operator=(const TeamSync&) = delete;

  // The next item: 0, 1, 2, ... across the team.
  index_t claim() noexcept { return next_.fetch_add(1, std::memory_order_relaxed); }

  // One item finished: its writes are visible to whoever then waits for it.
  void finished() noexcept { done_.fetch_add(1, std::memory_order_release); }

  // Waits until `count` items are finished in all (items 0 .. count-1, when every item waits
  // for the phases before its own). False, at once, once the team is stopped.
  bool wait_finished(index_t count) const noexcept {
    for (int spin = 0; done_.load(std::memory_order_acquire) < count; ++spin) {
      if (stopped()) return false;
      wait_step(spin);
    }
    return !stopped();
  }

  // Asks every member to return (a cancellation); items already started are finished.
  void stop() noexcept { stop_.store(true, std::memory_order_relaxed); }
  bool stopped() const noexcept { return stop_.load(std::memory_order_relaxed); }

 private:
  alignas(64) std::atomic<index_t> next_{0};
  alignas(64) std::atomic<index_t> done_{0};
  alignas(64) std::atomic<bool> stop_{false};
};

}  // namespace revcore::detail
