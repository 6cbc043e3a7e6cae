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

// Below this many element-bins a call stays on one thread (the pool's wake-up costs more).
// Measured with `python -m revcore.bench --only spline --threads 2`.
constexpr index_t kThreadWork = index_t(1) << 15;
// Rows are handed to the kernels in chunks of about this many elements: per-row knots are
// checked just before use (while in cache), and Ctrl-C is polled between chunks.
constexpr index_t kChunkElements = 4096;

index_t chunk_rows(index_t d) {
  return std::max<index_t>(1, kChunkElements / std::max<index_t>(d, 1));
}

// f(first row, row count) over [begin, end) in chunks; false when f or cancellation stopped.
template <class F>
bool for_chunks(index_t begin, index_t end, index_t d, const std::atomic<bool>& stop, F&& f) {
  const index_t step = chunk_rows(d);
  for (index_t r = begin; r < end; r += step) {
    if (stop.load(std::memory_order_relaxed)) return false;
    if (!f(r, std::min(step, end - r))) return false;
  }
  return true;
}

}  // namespace

template <typename T>
SplineStatus rq_spline(index_t n, index_t d, index_t bins, const T* v, const T* xk, const T* yk,
                       const T* dk, bool per_row, bool inverse, T* out, T* logd) noexcept {
  const Kernels<T>& k = ops<T>();
  const index_t set = bins + 1;
  if (!per_row && !k.check(d, bins, xk, yk, dk)) return SplineStatus::bad_knots;
  if (n == 0 || d == 0) return SplineStatus::ok;
  const index_t stride = per_row ? d * set : 0;
  std::atomic<bool> bad{false}, stop{false};
  detail::parallel_ranges(n, n * d * bins >= kThreadWork, [&](index_t begin, index_t end, index_t) {
    for_chunks(begin, end, d, stop, [&](index_t r, index_t rows) {
      const index_t at = r * stride;
      if (per_row && !k.check(rows * d, bins, xk + at, yk + at, dk + at)) {
        bad.store(true);
        stop.store(true);
        return false;
      }
      k.map(rows, d, bins, stride, v + r * d, xk + at, yk + at, dk + at, inverse, out + r * d,
            logd + r * d);
      if (cancelled()) stop.store(true);
      return true;
    });
  });
  if (bad.load()) return SplineStatus::bad_knots;
  return stop.load() ? SplineStatus::cancelled : SplineStatus::ok;
}

template <typename T>
SplineStatus rq_spline_backward(index_t n, index_t d, index_t bins, const T* x, const T* xk,
                                const T* yk, const T* dk, bool per_row, const T* grad_out,
                                const T* grad_log, T* grad_x, T* gxk, T* gyk, T* gdk) noexcept {
  const Kernels<T>& k = ops<T>();
  const index_t set = bins + 1;
  const index_t knots = (per_row ? n : 1) * d * set;
  std::fill(gxk, gxk + knots, T(0));
  std::fill(gyk, gyk + knots, T(0));
  std::fill(gdk, gdk + knots, T(0));
  if (!per_row && !k.check(d, bins, xk, yk, dk)) return SplineStatus::bad_knots;
  if (n == 0 || d == 0) return SplineStatus::ok;
  const index_t stride = per_row ? d * set : 0;
  const bool threads = n * d * bins >= kThreadWork;
  std::atomic<bool> bad{false}, stop{false};
  // Rows [r, r + rows) into the knot-gradient buffers sx, sy, sd (laid out as the knots).
  auto run = [&](index_t r, index_t rows, T* sx, T* sy, T* sd) {
    const index_t at = r * stride;
    if (per_row && !k.check(rows * d, bins, xk + at, yk + at, dk + at)) {
      bad.store(true);
      stop.store(true);
      return false;
    }
    k.backward(rows, d, bins, stride, x + r * d, xk + at, yk + at, dk + at, grad_out + r * d,
               grad_log + r * d, grad_x + r * d, sx + at, sy + at, sd + at);
    if (cancelled()) stop.store(true);
    return true;
  };
  if (per_row) {  // disjoint knot sets per row: no reduction
    detail::parallel_ranges(n, threads, [&](index_t begin, index_t end, index_t) {
      for_chunks(begin, end, d, stop,
                 [&](index_t r, index_t rows) { return run(r, rows, gxk, gyk, gdk); });
    });
  } else {
    // Each part of the rows sums into its own buffers, added up in part order afterwards, so
    // the result depends on the thread count only, never on timing.
    index_t parts = threads ? std::min<index_t>(n, get_num_threads()) : 1;
    std::vector<T> partial;
    try {
      partial.assign(static_cast<std::size_t>((parts - 1) * 3 * knots), T(0));
    } catch (...) {
      parts = 1;  // a few KiB per thread: not expected
    }
    detail::parallel_ranges(parts, parts > 1, [&](index_t p_begin, index_t p_end, index_t) {
      for (index_t p = p_begin; p < p_end; ++p) {
        T* sx = p == 0 ? gxk : partial.data() + (p - 1) * 3 * knots;
        T* sy = p == 0 ? gyk : sx + knots;
        T* sd = p == 0 ? gdk : sy + knots;
        for_chunks(n * p / parts, n * (p + 1) / parts, d, stop,
                   [&](index_t r, index_t rows) { return run(r, rows, sx, sy, sd); });
      }
    });
    if (!bad.load() && !stop.load()) {
      for (index_t p = 1; p < parts; ++p) {
        const T* src = partial.data() + (p - 1) * 3 * knots;
        for (index_t i = 0; i < knots; ++i) {
          gxk[i] += src[i];
          gyk[i] += src[knots + i];
          gdk[i] += src[2 * knots + i];
        }
      }
    }
  }
  if (bad.load()) return SplineStatus::bad_knots;
  return stop.load() ? SplineStatus::cancelled : SplineStatus::ok;
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
