// Cooperative cancellation of long kernels. No Python here: a caller (the bindings) installs a
// poll function for its own thread with CancelScope; kernels call cancelled() between blocks
// of work and return early when it says so, leaving their outputs unspecified (the caller
// discards them). cancelled() is cheap: it reads a clock and calls the poll function at most
// every kPollInterval, and only on the thread that installed it (worker threads of a kernel
// never poll).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>

#include "common/common.hpp"

namespace revcore {

using CancelPoll = bool (*)(void* context);

namespace cancel_detail {
struct State {
  CancelPoll poll = nullptr;
  void* context = nullptr;
  bool cancelled = false;
  std::chrono::steady_clock::time_point next{};
};
inline thread_local State* current = nullptr;
}  // namespace cancel_detail

constexpr std::chrono::milliseconds kPollInterval{50};

// True once the poll function installed on this thread has asked to stop (it stays true).
inline bool cancelled() noexcept {
  cancel_detail::State* s = cancel_detail::current;
  if (s == nullptr) return false;
  if (s->cancelled) return true;
  const auto now = std::chrono::steady_clock::now();
  if (now < s->next) return false;
  s->next = now + kPollInterval;
  s->cancelled = s->poll(s->context);
  return s->cancelled;
}

// Installs `poll` for the current thread for the lifetime of the scope (scopes nest).
class CancelScope {
 public:
  CancelScope(CancelPoll poll, void* context) noexcept : previous_(cancel_detail::current) {
    state_.poll = poll;
    state_.context = context;
    state_.next = std::chrono::steady_clock::now() + kPollInterval;
    cancel_detail::current = &state_;
  }
  ~CancelScope() { cancel_detail::current = previous_; }
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;
  bool cancelled() const noexcept { return state_.cancelled; }

 private:
  cancel_detail::State state_;
  cancel_detail::State* previous_;
};

// A poll function for worker threads: `flag` points at a std::atomic<bool> that the calling
// thread sets once it sees a cancellation, so the workers stop within their part too.
inline bool poll_flag(void* flag) { return static_cast<std::atomic<bool>*>(flag)->load(); }

// Work per block of for_blocks: ~20-50 ms with the portable GEMM, so a cancellation is seen
// that often.
constexpr double kBlockFlops = 2e8;

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

}  // namespace revcore
