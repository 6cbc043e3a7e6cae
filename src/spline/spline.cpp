#include "spline/spline.hpp"

#include <algorithm>
#include <atomic>
#include <vector>

#include "common/cancel.hpp"
#include "common/dispatch.hpp"
#include "common/thread_pool.hpp"
#include "spline/kernels.hpp"

namespace revcore {

namespace {

using detail::spline::Kernels;
using detail::spline::Table;

const Table& chosen() {
  static const Table& table = detail::dispatch<Table>(
      &detail::spline::table_generic, &detail::spline::table_avx2, &detail::spline::table_avx512);
  return table;
}

template <typename T>
const Kernels<T>& ops() {
  return chosen().of<T>();
}

// Below this many element-bins (about 10 us of work at one thread) a call stays on one
// thread, where waking the pool would cost a fair share of the call. A starting value: check
// it on a quiet machine against `python -m revcore.bench --only rq_spline --threads 2`.
constexpr index_t kThreadWork = index_t(1) << 15;
// Rows are handed to the kernels in chunks of about this many elements: Ctrl-C is polled
// between chunks.
constexpr index_t kChunkElements = 4096;

// Shared knots lane-major: knot m of dimension j at m * stride + j, for x, y and the
// derivatives one after the other; the padding columns hold the unit spline.
template <typename T>
struct LaneMajor {
  index_t stride = 0, set = 0;
  std::vector<T> data;

  bool make(index_t d, index_t bins, const T* xk, const T* yk, const T* dk) noexcept {
    set = bins + 1;
    stride = (d + 15) / 16 * 16;
    try {
      data.resize(static_cast<std::size_t>(3 * set * stride));
    } catch (...) {
      return false;
    }
    for (index_t m = 0; m < set; ++m) {
      for (index_t j = 0; j < stride; ++j) {
        const bool real = j < d;
        x()[m * stride + j] = real ? xk[j * set + m] : T(m);
        y()[m * stride + j] = real ? yk[j * set + m] : T(m);
        dv()[m * stride + j] = real ? dk[j * set + m] : T(1);
      }
    }
    return true;
  }
  T* x() { return data.data(); }
  T* y() { return data.data() + set * stride; }
  T* dv() { return data.data() + 2 * set * stride; }
};

// f(first row, row count) over rows [begin, end) in chunks; stops when f returns false, when
// `stop` is set elsewhere, or on cancellation (polled on the calling thread only).
template <class F>
void for_chunks(index_t begin, index_t end, index_t d, std::atomic<bool>& stop, F&& f) {
  const index_t step = std::max<index_t>(1, kChunkElements / std::max<index_t>(d, 1));
  for (index_t r = begin; r < end; r += step) {
    if (stop.load(std::memory_order_relaxed)) return;
    if (!f(r, std::min(step, end - r)) || cancelled()) {
      stop.store(true);
      return;
    }
  }
}

}  // namespace

template <typename T>
SplineStatus rq_spline(index_t n, index_t d, index_t bins, const T* v, const T* xk, const T* yk,
                       const T* dk, bool per_row, bool inverse, T* out, T* logd) noexcept {
  const Kernels<T>& k = ops<T>();
  const index_t set = bins + 1;
  if (!per_row && !k.check(d, bins, xk, yk, dk)) return SplineStatus::bad_knots;
  if (n == 0 || d == 0) return SplineStatus::ok;
  const bool threads = n * d * bins >= kThreadWork;
  std::atomic<bool> bad{false}, stop{false};
  if (per_row) {
    detail::parallel_ranges(n, threads, [&](index_t begin, index_t end, index_t) {
      for_chunks(begin, end, d, stop, [&](index_t r, index_t rows) {
        const index_t f = r * d;
        if (k.map_rows(rows * d, bins, v + f, xk + f * set, yk + f * set, dk + f * set, inverse,
                       out + f, logd + f))
          return true;
        bad.store(true);
        return false;
      });
    });
  } else {
    LaneMajor<T> t;
    if (!t.make(d, bins, xk, yk, dk)) return SplineStatus::out_of_memory;
    detail::parallel_ranges(n, threads, [&](index_t begin, index_t end, index_t) {
      for_chunks(begin, end, d, stop, [&](index_t r, index_t rows) {
        k.map_shared(rows, d, bins, t.stride, t.x(), t.y(), t.dv(), v + r * d, inverse, out + r * d,
                     logd + r * d);
        return true;
      });
    });
  }
  if (bad.load()) return SplineStatus::bad_knots;
  return stop.load() ? SplineStatus::cancelled : SplineStatus::ok;
}

template <typename T>
SplineStatus rq_spline_backward(index_t n, index_t d, index_t bins, const T* x, const T* xk,
                                const T* yk, const T* dk, bool per_row, const T* grad_out,
                                const T* grad_log, T* grad_x, T* gxk, T* gyk, T* gdk) noexcept {
  const Kernels<T>& k = ops<T>();
  const index_t set = bins + 1;
  if (!per_row) {  // summed into below; per-row gradients are written whole by the kernel
    std::fill(gxk, gxk + d * set, T(0));
    std::fill(gyk, gyk + d * set, T(0));
    std::fill(gdk, gdk + d * set, T(0));
    if (!k.check(d, bins, xk, yk, dk)) return SplineStatus::bad_knots;
  }
  if (n == 0 || d == 0) return SplineStatus::ok;
  const bool threads = n * d * bins >= kThreadWork;
  std::atomic<bool> bad{false}, stop{false};
  if (per_row) {  // every element owns its knot set: no reduction
    detail::parallel_ranges(n, threads, [&](index_t begin, index_t end, index_t) {
      for_chunks(begin, end, d, stop, [&](index_t r, index_t rows) {
        const index_t f = r * d;
        if (k.backward_rows(rows * d, bins, x + f, xk + f * set, yk + f * set, dk + f * set,
                            grad_out + f, grad_log + f, grad_x + f, gxk + f * set, gyk + f * set,
                            gdk + f * set))
          return true;
        bad.store(true);
        return false;
      });
    });
    if (bad.load()) return SplineStatus::bad_knots;
    return stop.load() ? SplineStatus::cancelled : SplineStatus::ok;
  }
  LaneMajor<T> t;
  if (!t.make(d, bins, xk, yk, dk)) return SplineStatus::out_of_memory;
  // Each part of the rows sums into its own lane-major buffers, added up in part order
  // afterwards: the result depends on the thread count only, never on timing.
  const index_t parts = threads ? std::min<index_t>(n, get_num_threads()) : 1;
  const index_t size = 3 * set * t.stride;
  std::vector<T> sums;
  try {
    sums.assign(static_cast<std::size_t>(parts * size), T(0));
  } catch (...) {
    return SplineStatus::out_of_memory;
  }
  detail::parallel_ranges(parts, parts > 1, [&](index_t p_begin, index_t p_end, index_t) {
    for (index_t p = p_begin; p < p_end; ++p) {
      T* gx = sums.data() + p * size;
      T* gy = gx + set * t.stride;
      T* gd = gy + set * t.stride;
      for_chunks(n * p / parts, n * (p + 1) / parts, d, stop, [&](index_t r, index_t rows) {
        k.backward_shared(rows, d, bins, t.stride, t.x(), t.y(), t.dv(), x + r * d,
                          grad_out + r * d, grad_log + r * d, grad_x + r * d, gx, gy, gd);
        return true;
      });
    }
  });
  if (stop.load()) return SplineStatus::cancelled;
  for (index_t p = 0; p < parts; ++p) {
    const T* src = sums.data() + p * size;
    for (index_t j = 0; j < d; ++j) {
      for (index_t m = 0; m < set; ++m) {
        gxk[j * set + m] += src[m * t.stride + j];
        gyk[j * set + m] += src[(set + m) * t.stride + j];
        gdk[j * set + m] += src[(2 * set + m) * t.stride + j];
      }
    }
  }
  return SplineStatus::ok;
}

#define REVCORE_INSTANTIATE(T)                                                                  \
  template SplineStatus rq_spline<T>(index_t, index_t, index_t, const T*, const T*, const T*,   \
                                     const T*, bool, bool, T*, T*) noexcept;                    \
  template SplineStatus rq_spline_backward<T>(index_t, index_t, index_t, const T*, const T*,    \
                                              const T*, const T*, bool, const T*, const T*, T*, \
                                              T*, T*, T*) noexcept;
REVCORE_INSTANTIATE(float)
REVCORE_INSTANTIATE(double)
#undef REVCORE_INSTANTIATE

}  // namespace revcore
