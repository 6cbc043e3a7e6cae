#include "common/thread_pool.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#define REVCORE_HAVE_GETPID 1
#endif

namespace revcore {
namespace detail {
namespace {

int initial_num_threads() {
  if (const char* env = std::getenv("REVCORE_NUM_THREADS")) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n >= 1 && n <= 1024) return static_cast<int>(n);
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw >= 1 ? static_cast<int>(hw) : 1;
}

std::atomic<int>& num_threads_setting() {
  static std::atomic<int> n{initial_num_threads()};
  return n;
}

// Set on the caller and the workers while they run a task: a parallel region opened from
// inside one (a parallel_ranges body calling a threaded GEMM) runs on its own thread instead
// of waiting for the pool it is part of.
thread_local bool in_region = false;

class RegionFlag {
 public:
  RegionFlag() { in_region = true; }
  ~RegionFlag() { in_region = false; }
  RegionFlag(const RegionFlag&) = delete;
  RegionFlag& operator=(const RegionFlag&) = delete;
};

// Up to kSpin, spins until ready() is true and returns true; false if it is not by then.
// Waking a thread from a condition variable costs tens of microseconds (more on a virtual
// machine), as much as a tenth of a threaded product of a few hundred rows; parallel regions
// often follow each other closely (the layers of a network, calls in a loop), so a worker
// watches for the next one for a while before it sleeps, and the caller watches for the
// workers' end before it sleeps.
constexpr std::chrono::microseconds kSpin{200};

template <class Ready>
bool spin_until(Ready ready) {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
      __builtin_ia32_pause();
#endif
    }
    if (std::chrono::steady_clock::now() >= until) return ready();
  }
}

// A few persistent workers, started on first need and kept until exit.
class ThreadPool {
 public:
  ThreadPool() {
#ifdef REVCORE_HAVE_GETPID
    owner_pid_ = static_cast<long>(getpid());
#endif
  }

  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  bool try_run(int count, const PoolTask& task) {
    if (in_region) return false;
    std::unique_lock<std::mutex> run_lock(run_mutex_, std::try_to_lock);
    if (!run_lock.owns_lock()) return false;
#ifdef REVCORE_HAVE_GETPID
    if (static_cast<long>(getpid()) != owner_pid_) return false;
#endif
    {
      std::lock_guard<std::mutex> lock(mutex_);
      while (static_cast<int>(workers_.size()) < count - 1) {
        const int index = static_cast<int>(workers_.size()) + 1;
        workers_.emplace_back([this, index] { worker_loop(index); });
      }
      task_ = &task;
      task_count_ = count;
      pending_.store(count - 1, std::memory_order_relaxed);
      error_ = nullptr;
      generation_.store(generation_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    wake_.notify_all();
    std::exception_ptr error;
    try {
      RegionFlag flag;
      task(0);
    } catch (...) {
      error = std::current_exception();
    }
    spin_until([this] { return pending_.load(std::memory_order_relaxed) == 0; });
    {
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, [this] { return pending_.load(std::memory_order_relaxed) == 0; });
      task_ = nullptr;
      if (!error) error = error_;
    }
    if (error) std::rethrow_exception(error);
    return true;
  }

 private:
  void worker_loop(int index) {
    std::uint64_t seen = 0;
    for (;;) {
      const PoolTask* task = nullptr;
      // Only as many as there are hardware threads watch: more would take turns on the cores
      // with the threads doing the work.
      if (index < hardware_threads_)
        spin_until([&] { return generation_.load(std::memory_order_relaxed) != seen; });
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock,
                   [&] { return stop_ || generation_.load(std::memory_order_relaxed) != seen; });
        if (stop_) return;
        seen = generation_.load(std::memory_order_relaxed);
        if (index >= task_count_) continue;
        task = task_;
      }
      try {
        RegionFlag flag;
        (*task)(index);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(mutex_);
      if (pending_.fetch_sub(1, std::memory_order_relaxed) == 1) done_.notify_one();
    }
  }

  // mutex_ guards everything below it; pending_ and generation_ change only under it too, and
  // are atomic so that spin_until may watch them without it.
  std::mutex run_mutex_;  // held by the caller for the whole region
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::vector<std::thread> workers_;
  const PoolTask* task_ = nullptr;
  int task_count_ = 0;
  std::atomic<int> pending_{0};
  std::atomic<std::uint64_t> generation_{0};
  std::exception_ptr error_;
  bool stop_ = false;
  long owner_pid_ = 0;
  const int hardware_threads_ = static_cast<int>(std::thread::hardware_concurrency());
};

ThreadPool& thread_pool() {
  static ThreadPool pool;
  return pool;
}

}  // namespace

bool pool_try_run(int count, const PoolTask& task) { return thread_pool().try_run(count, task); }

}  // namespace detail

void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("set_num_threads: the number of threads must be >= 1");
  detail::num_threads_setting().store(n, std::memory_order_relaxed);
}

int get_num_threads() { return detail::num_threads_setting().load(std::memory_order_relaxed); }

}  // namespace revcore
