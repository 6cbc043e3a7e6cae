// Synchronisation for a team of threads working through one kernel together in phases (a
// parallel region of the pool in common/thread_pool.hpp, every member running at once): a
// barrier that ends each phase and a counter from which members claim the phase's work items.
// Header-only and free of instruction-set code, so any kernel's translation unit can use it.
#pragma once

#include <atomic>
#include <thread>

#include "common/common.hpp"

namespace revcore::detail {

class TeamSync {
 public:
  explicit TeamSync(int size) noexcept : size_(size) {}
  TeamSync(const TeamSync&) = delete;
  TeamSync& operator=(const TeamSync&) = delete;

  int size() const noexcept { return size_; }

  // The next work item of the current phase: 0, 1, 2, ... across the whole team (an item
  // past the phase's last means there is none left).
  index_t claim() noexcept { return next_.fetch_add(1, std::memory_order_relaxed); }

  // Ends the phase: returns once every member has called it, true when any member passed
  // stop (then every member gets true from the same call, so they all leave the region at
  // the same point and none waits for a member that has gone). The claim counter starts
  // again from 0 for the next phase; writes made before the call are visible after it.
  bool sync(bool stop) noexcept {
    const unsigned gen = generation_.load(std::memory_order_relaxed);
    if (stop) stop_any_.store(true, std::memory_order_relaxed);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == size_) {
      // Last to arrive: nobody has left this phase, so the shared state can be reset.
      const bool any = stop_any_.load(std::memory_order_relaxed);
      result_[gen & 1u].store(any, std::memory_order_relaxed);
      stop_any_.store(false, std::memory_order_relaxed);
      next_.store(0, std::memory_order_relaxed);
      arrived_.store(0, std::memory_order_relaxed);
      generation_.store(gen + 1, std::memory_order_release);
    } else {
      wait_while(gen);
    }
    // result_[gen & 1] is written again only when phase gen + 2 ends, which needs this member.
    return result_[gen & 1u].load(std::memory_order_relaxed);
  }

 private:
  void wait_while(unsigned gen) const noexcept {
    // Spin briefly (the others are usually a few microseconds away), then give the core
    // away: on a machine shared with other jobs a member may not be running at all.
    for (int spin = 0; generation_.load(std::memory_order_acquire) == gen; ++spin) {
      if (spin < 4096) {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
        __builtin_ia32_pause();
#endif
      } else {
        std::this_thread::yield();
      }
    }
  }

  const int size_;
  alignas(64) std::atomic<index_t> next_{0};
  alignas(64) std::atomic<int> arrived_{0};
  std::atomic<bool> stop_any_{false};
  std::atomic<bool> result_[2] = {false, false};
  alignas(64) std::atomic<unsigned> generation_{0};
};

}  // namespace revcore::detail
