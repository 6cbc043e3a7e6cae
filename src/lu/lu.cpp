#include "lu/lu.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "common/cancel.hpp"
#include "common/dispatch.hpp"
#include "common/team.hpp"
#include "common/thread_pool.hpp"
#include "gemm/gemm.hpp"
#include "lu/kernels.hpp"

namespace revcore {

namespace {

// Blocked triangular solves for many right-hand sides. The triangle is halved recursively
// (row blocks that are multiples of kSolveLeaf) so nearly all flops are in GEMM updates of
// the largest shape the recursion allows; diagonal blocks of at most kSolveLeaf rows run the
// lane kernels of lu/kernels.hpp on packed panels of right-hand sides.
constexpr index_t kSolveLeaf = 64;

// op(T) X = B for a triangle of order n <= kSolveLeaf, B with any strides. The triangle is
// first copied so that the kernel reads it with unit row stride (eight rows of one column
// share a cache line; a large power-of-two row stride would make them fight over cache sets).
template <typename T>
void trsm_leaf(bool lower, index_t n, index_t nrhs, bool unit, const T* a, index_t rsa, index_t csa,
               T* b, index_t rsb, index_t csb) {
  const auto& K = detail::lu::kernels<T>();
  const index_t rb = K.lanes;
  const index_t ld = n;
  T tri[kSolveLeaf * kSolveLeaf];
  for (index_t k = 0; k < n; ++k)
    for (index_t i = 0; i < n; ++i) tri[k * ld + i] = a[i * rsa + k * csa];
  auto kernel = lower ? K.packed_lower : K.packed_upper;
  const index_t blocks = (nrhs + rb - 1) / rb;
  const bool by_rows = std::abs(csb) <= std::abs(rsb);
  detail::parallel_ranges(blocks, double(n) * n * nrhs > 2e6, [&](index_t b0, index_t b1, index_t) {
    alignas(64) T x[kSolveLeaf * 32];
    for (index_t blk = b0; blk < b1; ++blk) {
      const index_t c0 = blk * rb, w = std::min(rb, nrhs - c0);
      T* bc = b + c0 * csb;
      if (by_rows) {
        for (index_t i = 0; i < n; ++i) {
          const T* src = bc + i * rsb;
          T* dst = x + i * rb;
          for (index_t l = 0; l < w; ++l) dst[l] = src[l * csb];
          for (index_t l = w; l < rb; ++l) dst[l] = T(0);
        }
      } else {
        if (w < rb) std::fill(x, x + n * rb, T(0));
        for (index_t l = 0; l < w; ++l)
          for (index_t i = 0; i < n; ++i) x[i * rb + l] = bc[l * csb + i * rsb];
      }
      kernel(n, unit, tri, 1, ld, x);
      if (by_rows) {
        for (index_t i = 0; i < n; ++i) {
          T* dst = bc + i * rsb;
          const T* src = x + i * rb;
          for (index_t l = 0; l < w; ++l) dst[l * csb] = src[l];
        }
      } else {
        for (index_t l = 0; l < w; ++l)
          for (index_t i = 0; i < n; ++i) bc[l * csb + i * rsb] = x[i * rb + l];
      }
    }
  });
}

template <typename T>
void trsm_blocked(bool lower, index_t n, index_t nrhs, bool unit, const T* a, index_t rsa,
                  index_t csa, T* b, index_t rsb, index_t csb) {
  if (n <= 0 || nrhs <= 0) return;
  if (n <= kSolveLeaf) return trsm_leaf(lower, n, nrhs, unit, a, rsa, csa, b, rsb, csb);
  const index_t n1 = std::max(kSolveLeaf, (n / 2) / kSolveLeaf * kSolveLeaf), n2 = n - n1;
  const T* a22 = a + n1 * rsa + n1 * csa;
  T* b2 = b + n1 * rsb;
  if (lower) {
    trsm_blocked(true, n1, nrhs, unit, a, rsa, csa, b, rsb, csb);
    gemm<T>(n2, nrhs, n1, T(-1), a + n1 * rsa, rsa, csa, b, rsb, csb, T(1), b2, rsb, csb);
    trsm_blocked(true, n2, nrhs, unit, a22, rsa, csa, b2, rsb, csb);
  } else {
    trsm_blocked(false, n2, nrhs, unit, a22, rsa, csa, b2, rsb, csb);
    gemm<T>(n1, nrhs, n2, T(-1), a + n1 * csa, rsa, csa, b2, rsb, csb, T(1), b, rsb, csb);
    trsm_blocked(false, n1, nrhs, unit, a, rsa, csa, b, rsb, csb);
  }
}

}  // namespace

template <typename T>
void trsm_lower(index_t n, index_t nrhs, bool unit, const T* a, index_t rsa, index_t csa, T* b,
                index_t rsb, index_t csb) {
  trsm_blocked(true, n, nrhs, unit, a, rsa, csa, b, rsb, csb);
}

template <typename T>
void trsm_upper(index_t n, index_t nrhs, bool unit, const T* a, index_t rsa, index_t csa, T* b,
                index_t rsb, index_t csb) {
  trsm_blocked(false, n, nrhs, unit, a, rsa, csa, b, rsb, csb);
}

namespace {

// Recursive LU (Toledo; Gustavson): the columns are halved until a leaf of at most kLeaf
// columns is left, so nearly every flop is in a GEMM (or a triangular solve built on the
// GEMM) of the largest shape the recursion allows, and no fixed panel width caps the rank of
// the trailing updates. The recursion works on a row-major matrix (unit column stride, row
// stride lda) with m >= n, which makes every row interchange one contiguous swap.
constexpr index_t kLeaf = 8;
constexpr index_t kPanel = 128;
// Rows of the unit lower triangle below which the triangular solve stops halving.
constexpr index_t kTrsmLeaf = 32;

template <typename T>
void swap_row_segments(index_t len, T* a, index_t lda, index_t i, index_t p) {
  if (i != p) std::swap_ranges(a + i * lda, a + i * lda + len, a + p * lda);
}

// B = L^-1 B for a unit lower-triangular n x n L and an n x nrhs B, both row-major.
template <typename T>
void trsm_unit_lower_rowmajor(index_t n, index_t nrhs, const T* l, index_t ldl, T* b, index_t ldb,
                              std::vector<T>& scratch) {
  if (n <= kTrsmLeaf) {
    // The vectorised forward substitution of lu_solve, on blocks of its lane width.
    const auto& K = detail::lu::kernels<T>();
    const index_t rb = K.lanes;
    scratch.resize(static_cast<std::size_t>(n * rb));
    T* x = scratch.data();
    for (index_t c0 = 0; c0 < nrhs; c0 += rb) {
      const index_t w = std::min(rb, nrhs - c0);
      for (index_t i = 0; i < n; ++i) {
        std::copy(b + i * ldb + c0, b + i * ldb + c0 + w, x + i * rb);
        std::fill(x + i * rb + w, x + (i + 1) * rb, T(0));
      }
      K.packed_lower(n, true, l, ldl, 1, x);
      for (index_t i = 0; i < n; ++i) std::copy(x + i * rb, x + i * rb + w, b + i * ldb + c0);
    }
    return;
  }
  const index_t n1 = n / 2;
  trsm_unit_lower_rowmajor(n1, nrhs, l, ldl, b, ldb, scratch);
  gemm<T>(n - n1, nrhs, n1, T(-1), l + n1 * ldl, ldl, 1, b, ldb, 1, T(1), b + n1 * ldb, ldb, 1);
  trsm_unit_lower_rowmajor(n - n1, nrhs, l + n1 * ldl + n1, ldl, b + n1 * ldb, ldb, scratch);
}

// A leaf: the m x w panel is moved into a column-major buffer for the ISA's panel kernel
// (contiguous columns, and no cache-set conflicts from a power-of-two row stride).
template <typename T>
index_t lu_leaf(index_t m, index_t w, T* a, index_t lda, std::int32_t* piv,
                std::vector<T>& scratch) {
  const index_t ld = m;
  scratch.resize(static_cast<std::size_t>(ld * w));
  T* x = scratch.data();
  for (index_t i = 0; i < m; ++i)
    for (index_t c = 0; c < w; ++c) x[c * ld + i] = a[i * lda + c];
  const index_t info = detail::lu::kernels<T>().panel_factor(m, w, x, ld, piv);
  for (index_t i = 0; i < m; ++i)
    for (index_t c = 0; c < w; ++c) a[i * lda + c] = x[c * ld + i];
  return info;
}

template <typename T>
struct Workspace {
  std::vector<T> panel, leaf, trsm;
};

template <typename T>
index_t lu_recursive(index_t m, index_t n, T* a, index_t lda, std::int32_t* piv, Workspace<T>& ws,
                     bool packed) {
  if (n <= kLeaf) return lu_leaf(m, n, a, lda, piv, ws.leaf);
  if (!packed && n <= kPanel) {
    // A panel this narrow is factored in a compact copy: rows a few cache lines long at a
    // stride that is not a power of two, so the narrow GEMMs and the leaves neither miss L2
    // nor fight over cache sets.
    const index_t ld = n + 64 / index_t(sizeof(T));
    ws.panel.resize(static_cast<std::size_t>(m * ld));
    T* p = ws.panel.data();
    for (index_t i = 0; i < m; ++i) std::copy(a + i * lda, a + i * lda + n, p + i * ld);
    const index_t info = lu_recursive(m, n, p, ld, piv, ws, true);
    for (index_t i = 0; i < m; ++i) std::copy(p + i * ld, p + i * ld + n, a + i * lda);
    return info;
  }
  // A multiple of the leaf width on the left keeps the leaves full.
  const index_t n1 = std::max(kLeaf, (n / 2) / kLeaf * kLeaf), n2 = n - n1;
  index_t info = lu_recursive(m, n1, a, lda, piv, ws, packed);
  // Cancelled (common/cancel.hpp): stop before any pivot of an unfinished part is used; the
  // caller discards the factors. Sticky, so every level of the recursion returns at once.
  if (cancelled()) return info;
  T* a12 = a + n1;
  for (index_t i = 0; i < n1; ++i) swap_row_segments(n2, a12, lda, i, piv[i]);
  trsm_unit_lower_rowmajor(n1, n2, a, lda, a12, lda, ws.trsm);
  T* a22 = a12 + n1 * lda;
  gemm<T>(m - n1, n2, n1, T(-1), a + n1 * lda, lda, 1, a12, lda, 1, T(1), a22, lda, 1);
  const index_t info2 = lu_recursive(m - n1, n2, a22, lda, piv + n1, ws, packed);
  if (cancelled()) return info;
  if (info == 0 && info2 != 0) info = info2 + n1;
  T* a21 = a + n1 * lda;
  for (index_t i = 0; i < n2; ++i) {
    swap_row_segments(n1, a21, lda, i, piv[n1 + i]);
    piv[n1 + i] += static_cast<std::int32_t>(n1);
  }
  return info;
}

// Waits until ready() or the team is stopped; false when stopped. The caller (member 0) also
// looks for a cancellation while it waits and stops the team when it sees one.
template <class Ready>
bool wait_for(Ready ready, std::atomic<bool>& stop, bool caller) {
  for (int spin = 0; !ready(); ++spin) {
    if (stop.load(std::memory_order_relaxed)) return false;
    if (caller && spin % 256 == 0 && cancelled()) stop.store(true, std::memory_order_relaxed);
    detail::wait_step(spin);
  }
  return !stop.load(std::memory_order_relaxed);
}

// Panel width of the threaded factorization (lu_threaded): wide enough for the rank-nb
// updates to run near the GEMM's speed, narrow enough that a panel's factorization (on one
// thread) hides behind the update of the rest.
index_t threaded_panel(index_t k) { return k >= 1536 ? 192 : k >= 768 ? 128 : 64; }

// The square part (m x k, k <= m) on `threads` members of the pool: right-looking, in panels
// of nb columns, with a look-ahead of one panel. Step s applies panel s (its interchanges,
// U12 = L11^-1 A12 and A22 -= L21 U12) to the columns on its right, in tasks of whole blocks
// of nb columns; the first task of a step updates only the next panel's block and then
// factors it, so that factorization (serial, lu_recursive) overlaps the rest of the step's
// update on the other threads. Tasks are claimed in order from one counter and each waits
// only for tasks claimed before it (the panel it applies; the previous step's update of its
// blocks), so a member that starts late holds nobody up. Every column sees the same
// arithmetic however the tasks fall, so any number of threads gives the same factors.
// Returns false, having done nothing, when the pool is busy.
template <typename T>
bool lu_threaded(index_t m, index_t k, T* a, index_t lda, std::int32_t* piv, int threads,
                 index_t& info) {
  // Block b is columns [start[b], start[b + 1]). The first is half as wide: its factorization
  // is the one thing no other thread can overlap, and a panel costs m nb^2 flops.
  const index_t nb = threaded_panel(k);
  std::vector<index_t> start{0};
  for (index_t c = std::min(k, nb / 2); c < k; c = std::min(k, c + nb)) start.push_back(c);
  start.push_back(k);
  const auto blocks = static_cast<index_t>(start.size()) - 1;
  threads = static_cast<int>(std::min<index_t>(threads, blocks));
  struct Task {
    index_t step, b0, b1;  // apply panel `step` (none when < 0) to blocks [b0, b1)
    bool factor;           // then factor block b0 as the next panel
  };
  std::vector<Task> tasks{{-1, 0, 1, true}};
  for (index_t s = 0; s + 1 < blocks; ++s) {
    tasks.push_back({s, s + 1, s + 2, true});
    // The block after the look-ahead on its own: the next step's first task needs it early.
    // The rest in about two tasks per member.
    if (s + 2 < blocks) tasks.push_back({s, s + 2, s + 3, false});
    const index_t rest = blocks - (s + 3);
    const index_t per = std::max<index_t>(1, (rest + 2 * threads - 1) / (2 * threads));
    for (index_t b = s + 3; b < blocks; b += per)
      tasks.push_back({s, b, std::min(blocks, b + per), false});
  }
  // Everything a member allocates, allocated here: nothing in the region may throw while
  // others wait for it.
  std::vector<Workspace<T>> ws(static_cast<std::size_t>(threads));
  for (Workspace<T>& w : ws) {
    w.panel.reserve(static_cast<std::size_t>(m * (nb + 64 / index_t(sizeof(T)))));
    w.leaf.reserve(static_cast<std::size_t>(m * kLeaf));
    w.trsm.reserve(static_cast<std::size_t>(kTrsmLeaf * detail::lu::kernels<T>().lanes));
  }
  std::vector<index_t> infos(static_cast<std::size_t>(blocks), 0);
  // updated[b]: panels applied to block b so far; factored: panels factored so far.
  std::vector<std::atomic<index_t>> updated(static_cast<std::size_t>(blocks));
  for (auto& u : updated) u.store(0, std::memory_order_relaxed);
  std::atomic<index_t> factored{0}, next{0};
  std::atomic<bool> stop{false};
  const auto count = static_cast<index_t>(tasks.size());

  auto run = [&](const Task& t, Workspace<T>& w) {
    const index_t c0 = start[t.b0], cols = start[t.b1] - c0;
    if (t.step >= 0) {
      const index_t r0 = start[t.step], width = start[t.step + 1] - r0;
      for (index_t i = r0; i < r0 + width; ++i) swap_row_segments(cols, a + c0, lda, i, piv[i]);
      T* u12 = a + r0 * lda + c0;
      trsm_unit_lower_rowmajor(width, cols, a + r0 * lda + r0, lda, u12, lda, w.trsm);
      gemm<T>(m - r0 - width, cols, width, T(-1), a + (r0 + width) * lda + r0, lda, 1, u12, lda, 1,
              T(1), u12 + width * lda, lda, 1);
    }
    for (index_t b = t.b0; b < t.b1; ++b) updated[b].store(t.step + 1, std::memory_order_release);
    if (t.factor) {
      const index_t r0 = c0;
      std::int32_t* p = piv + r0;
      infos[t.b0] = lu_recursive(m - r0, cols, a + r0 * lda + r0, lda, p, w, false);
      for (index_t i = 0; i < cols; ++i) p[i] += static_cast<std::int32_t>(r0);
      factored.store(t.b0 + 1, std::memory_order_release);
    }
  };
  const detail::PoolTask task = [&](int member) {
    // The workers see the caller's cancellation through `stop` (lu_recursive and the GEMM
    // look for it between blocks of work).
    std::optional<CancelScope> scope;
    if (member != 0) scope.emplace(&poll_flag, static_cast<void*>(&stop));
    const bool caller = member == 0;
    try {
      for (index_t i = next.fetch_add(1); i < count; i = next.fetch_add(1)) {
        const Task& t = tasks[i];
        auto ready = [&] {
          if (factored.load(std::memory_order_acquire) <= t.step) return false;
          for (index_t b = t.b0; b < t.b1; ++b)
            if (updated[b].load(std::memory_order_acquire) < t.step) return false;
          return true;
        };
        if (!wait_for(ready, stop, caller)) return;
        run(t, ws[static_cast<std::size_t>(member)]);
        if (caller ? cancelled() : stop.load(std::memory_order_relaxed)) {
          stop.store(true, std::memory_order_relaxed);
          return;
        }
      }
    } catch (...) {
      stop.store(true, std::memory_order_relaxed);
      throw;
    }
  };
  if (!detail::pool_try_run(threads, task)) return false;
  if (stop.load(std::memory_order_relaxed)) return true;  // cancelled: the factors are discarded
  info = 0;
  for (index_t b = 0; b < blocks && info == 0; ++b)
    if (infos[b] != 0) info = infos[b] + start[b];
  // The later panels' interchanges in the columns of L left of them.
  detail::parallel_ranges(blocks - 1, true, [&](index_t b0, index_t b1, index_t) {
    for (index_t b = b0; b < b1; ++b)
      for (index_t i = start[b + 1]; i < k; ++i)
        swap_row_segments(start[b + 1] - start[b], a + start[b], lda, i, piv[i]);
  });
  return true;
}

// U12 = L^-1 U12 for the columns right of a wide matrix's square part, in column slices on
// the pool (the columns are independent).
template <typename T>
void trsm_wide_part(index_t k, index_t cols, const T* l, index_t lda, T* b) {
  const index_t lanes = detail::lu::kernels<T>().lanes;
  const index_t slices = (cols + lanes - 1) / lanes;
  const double flops = double(k) * double(k) * double(cols);
  detail::parallel_ranges(slices, flops > 4e6, [&](index_t s0, index_t s1, index_t) {
    std::vector<T> scratch;
    const index_t c0 = s0 * lanes, c1 = std::min(cols, s1 * lanes);
    trsm_unit_lower_rowmajor(k, c1 - c0, l, lda, b + c0, lda, scratch);
  });
}

// Below this order the threaded factorization does not pay for its waits.
constexpr index_t kThreadedMinOrder = 512;

template <typename T>
index_t lu_factor_rowmajor(index_t m, index_t n, T* a, index_t lda, std::int32_t* piv) {
  const index_t k = std::min(m, n);
  if (k == 0) return 0;
  Workspace<T> ws;
  index_t info = 0;
  const int threads = get_num_threads();
  const bool threaded =
      threads > 1 && k >= kThreadedMinOrder && lu_threaded(m, k, a, lda, piv, threads, info);
  if (!threaded) info = lu_recursive(m, k, a, lda, piv, ws, false);
  if (cancelled()) return info;
  if (n > k) {
    // Wide: the columns right of the square part only see the interchanges and L^-1.
    for (index_t i = 0; i < k; ++i) swap_row_segments(n - k, a + k, lda, i, piv[i]);
    trsm_wide_part(k, n - k, a, lda, a + k);
  }
  return info;
}

}  // namespace

template <typename T>
index_t lu_factor(index_t m, index_t n, T* a, index_t rsa, index_t csa, std::int32_t* piv) {
  if (m <= 0 || n <= 0) return 0;
  if (csa == 1) return lu_factor_rowmajor(m, n, a, rsa, piv);
  // Any other layout is factored in a row-major copy: O(mn) moves against O(mn min(m, n))
  // flops, and the kernels above need only one layout.
  std::vector<T> copy(static_cast<std::size_t>(m * n));
  for (index_t i = 0; i < m; ++i)
    for (index_t j = 0; j < n; ++j) copy[i * n + j] = a[i * rsa + j * csa];
  const index_t info = lu_factor_rowmajor(m, n, copy.data(), n, piv);
  for (index_t i = 0; i < m; ++i)
    for (index_t j = 0; j < n; ++j) a[i * rsa + j * csa] = copy[i * n + j];
  return info;
}

namespace detail::lu {

const Table& chosen() {
  static const Table& table = dispatch<Table>(&table_generic, &table_avx2, &table_avx512);
  return table;
}

}  // namespace detail::lu

// Where lu_solve leaves the lane kernels (the whole triangle against panels of RB right-hand
// sides) for the blocked solves (64-row diagonal blocks on the lane kernels, everything else
// in GEMM updates). The lane kernels reread the whole triangle once per panel, at 4 (float64)
// or 16 (float32) flops per byte, so they run from the caches at 85-100 (float64) or 170-200
// (float32) GFLOP/s while the factors fit in the 32 MiB L3 and slow down once they do not;
// the GEMM updates stay near 85 (float64) or 160 (float32) GFLOP/s at any order but lose on
// narrow B, where the packing and the leaves weigh most. Measured lane time / blocked time
// (1 thread, Zen 5; revcore's row-major factors / scipy's column-major, trans = 0; > 1: the
// blocked solves win; the lane kernels win at every nrhs for n <= 1024):
//
//   float64   nrhs:   1          16         32         64         128        256
//   n = 1536        0.94/1.71            0.72/0.73  0.80/0.88  0.92/0.95  1.00/0.96
//   n = 2048        1.32/1.98            0.83/0.78  0.96/0.95  1.06/1.07  1.18/1.21
//   n = 3072        1.56/1.95  0.67/0.58 0.84/0.76  1.05/0.96  1.22/1.16  1.25/1.24
//   n = 4096        1.69/1.79  0.79/0.57 1.00/0.74  1.08/0.97  1.19/1.14  1.27/1.11
//   float32
//   n = 1024        0.42/1.48            0.57/0.73  0.71/0.81  0.81/0.88  0.85/0.90
//   n = 2048        0.76/1.59            0.66/0.54  0.72/0.65  0.85/0.83  0.84/0.82
//   n = 4096        1.32/1.92            0.78/0.48  0.94/0.67  1.11/0.88  1.14/1.06
//
// Repeated runs move these by 10-20% (shared machine): at 128 float64 right-hand sides and
// n = 2048 a second run gave 0.98/0.84, at 256 every run kept the blocked solves ahead.
// Hence: blocked from rows of 16 KiB (n >= 2048 in float64, 4096 in float32) with at least
// 256 right-hand sides (the Python layer hands lu_solve at most 256 columns at a time at
// these orders, and a last, narrower block picks its own path). One right-hand side is a
// case of its own: the blocked solves then run on GEMV updates, which stream the triangle
// faster than the single-vector kernels at any order when its columns are contiguous (as the
// kernels read it: 1.2-1.9x from n = 512 in both types) and from rows of 16 KiB otherwise
// (two right-hand sides: solved one at a time the same way). Measure again with
// benchmarks/bench_solve_crossover.py.
constexpr index_t kBlockedSolveRowBytes = 16384;
constexpr index_t kBlockedSolveRhs = 256;
constexpr index_t kBlockedSingleColumnsMin = 512;

template <typename T>
void lu_solve(index_t n, index_t nrhs, const T* lu, index_t rsl, index_t csl,
              const std::int32_t* piv, bool trans, T* b, index_t rsb, index_t csb) {
  if (n == 0 || nrhs == 0) return;
  const auto& K = detail::lu::kernels<T>();
  // op(A) = P^T L U: X = U^-1 L^-1 P B. op(A) = A^T = U^T L^T P: X = P^T L^-T U^-T B, with
  // U^T lower and L^T upper read through swapped strides.
  const index_t krs = trans ? csl : rsl, kcs = trans ? rsl : csl;
  const bool columns_contiguous = krs == 1 && kcs != 1;
  auto solve = [&](T* x, index_t stride, bool packed) {
    auto swap_rows_of = [&](index_t i, index_t p) {
      if (i != p) std::swap_ranges(x + i * stride, x + i * stride + stride, x + p * stride);
    };
    auto lower = packed ? K.packed_lower : K.vector_lower;
    auto upper = packed ? K.packed_upper : K.vector_upper;
    // Triangles with contiguous columns (as the kernels see them) take the column-oriented
    // packed kernels: 3-5x faster at n >= 512 than reading across the columns.
    const bool by_columns = packed && columns_contiguous && K.packed_lower_cols;
    auto low = [&](bool unit) {
      if (by_columns)
        K.packed_lower_cols(n, unit, lu, kcs, x);
      else
        lower(n, unit, lu, krs, kcs, x);
    };
    auto up = [&](bool unit) {
      if (by_columns)
        K.packed_upper_cols(n, unit, lu, kcs, x);
      else
        upper(n, unit, lu, krs, kcs, x);
    };
    if (!trans) {
      for (index_t i = 0; i < n; ++i) swap_rows_of(i, piv[i]);
      low(true);
      up(false);
    } else {
      low(false);
      up(true);
      for (index_t i = n - 1; i >= 0; --i) swap_rows_of(i, piv[i]);
    }
  };
  // Interchanges, then two blocked (GEMM-rich) triangular solves, on columns of B in place.
  auto solve_blocked = [&](T* bb, index_t cols) {
    auto permute = [&](bool forward) {
      if (std::abs(csb) <= std::abs(rsb)) {
        auto swap_rows = [&](index_t i, index_t p) {
          if (i != p)
            for (index_t r = 0; r < cols; ++r)
              std::swap(bb[i * rsb + r * csb], bb[p * rsb + r * csb]);
        };
        if (forward)
          for (index_t i = 0; i < n; ++i) swap_rows(i, piv[i]);
        else
          for (index_t i = n - 1; i >= 0; --i) swap_rows(i, piv[i]);
      } else {
        for (index_t r = 0; r < cols; ++r) {
          T* col = bb + r * csb;
          if (forward) {
            for (index_t i = 0; i < n; ++i)
              if (piv[i] != i) std::swap(col[i * rsb], col[piv[i] * rsb]);
          } else {
            for (index_t i = n - 1; i >= 0; --i)
              if (piv[i] != i) std::swap(col[i * rsb], col[piv[i] * rsb]);
          }
        }
      }
    };
    if (!trans) {
      permute(true);
      trsm_blocked(true, n, cols, true, lu, rsl, csl, bb, rsb, csb);
      trsm_blocked(false, n, cols, false, lu, rsl, csl, bb, rsb, csb);
    } else {
      trsm_blocked(true, n, cols, false, lu, csl, rsl, bb, rsb, csb);
      trsm_blocked(false, n, cols, true, lu, csl, rsl, bb, rsb, csb);
      permute(false);
    }
  };
  const bool long_rows = n * index_t(sizeof(T)) >= kBlockedSolveRowBytes;
  if (long_rows && nrhs >= kBlockedSolveRhs) return solve_blocked(b, nrhs);
  if (nrhs <= 2) {
    // Few right-hand sides: one at a time (no lanes wasted), by the single-vector kernels or
    // on GEMV updates (above).
    const bool blocked = long_rows || (columns_contiguous && n >= kBlockedSingleColumnsMin);
    std::vector<T> x(rsb == 1 || blocked ? 0 : static_cast<std::size_t>(n));
    for (index_t r = 0; r < nrhs; ++r) {
      T* column = b + r * csb;
      if (blocked) {
        solve_blocked(column, 1);
      } else if (rsb == 1) {
        solve(column, 1, false);
      } else {
        for (index_t i = 0; i < n; ++i) x[i] = column[i * rsb];
        solve(x.data(), 1, false);
        for (index_t i = 0; i < n; ++i) column[i * rsb] = x[i];
      }
    }
    return;
  }
  const index_t rb = K.lanes;
  const index_t blocks = (nrhs + rb - 1) / rb;
  detail::parallel_ranges(blocks, double(n) * n * nrhs > 4e6, [&](index_t b0, index_t b1, index_t) {
    std::vector<T> panel(static_cast<std::size_t>(n * rb));
    T* x = panel.data();
    for (index_t blk = b0; blk < b1; ++blk) {
      const index_t c0 = blk * rb, w = std::min(rb, nrhs - c0);
      T* bc = b + c0 * csb;
      if (w < rb) std::fill(panel.begin(), panel.end(), T(0));
      if (std::abs(rsb) < std::abs(csb)) {
        for (index_t l = 0; l < w; ++l)
          for (index_t i = 0; i < n; ++i) x[i * rb + l] = bc[l * csb + i * rsb];
      } else {
        for (index_t i = 0; i < n; ++i)
          for (index_t l = 0; l < w; ++l) x[i * rb + l] = bc[i * rsb + l * csb];
      }
      solve(x, rb, true);
      if (std::abs(rsb) < std::abs(csb)) {
        for (index_t l = 0; l < w; ++l)
          for (index_t i = 0; i < n; ++i) bc[l * csb + i * rsb] = x[i * rb + l];
      } else {
        for (index_t i = 0; i < n; ++i)
          for (index_t l = 0; l < w; ++l) bc[i * rsb + l * csb] = x[i * rb + l];
      }
    }
  });
}

template <typename T>
T lu_condition_estimate(index_t n, const T* lu, index_t rsl, index_t csl, const std::int32_t* piv,
                        T norm1) {
  if (n == 0) return T(0);
  for (index_t i = 0; i < n; ++i)
    if (lu[i * rsl + i * csl] == T(0)) return std::numeric_limits<T>::infinity();
  std::vector<T> x(static_cast<std::size_t>(n)), sign(x.size());
  auto solve = [&](bool trans) { lu_solve<T>(n, 1, lu, rsl, csl, piv, trans, x.data(), 1, 1); };
  auto norm = [&] {
    T s = 0;
    for (T v : x) s += std::abs(v);
    return s;
  };
  auto argmax = [&] {
    index_t j = 0;
    for (index_t i = 1; i < n; ++i)
      if (std::abs(x[i]) > std::abs(x[j])) j = i;
    return j;
  };
  // Hager's iteration estimates ||A^-1||_1 as max ||A^-1 x||_1 over unit vectors x.
  std::fill(x.begin(), x.end(), T(1) / T(n));
  solve(false);
  T est = norm();
  if (n > 1) {
    for (index_t i = 0; i < n; ++i) sign[i] = x[i] >= T(0) ? T(1) : T(-1);
    x = sign;
    solve(true);
    index_t j = argmax();
    for (int iter = 2; iter <= 5; ++iter) {
      std::fill(x.begin(), x.end(), T(0));
      x[j] = T(1);
      solve(false);
      const T previous = est;
      est = norm();
      bool same_signs = true;
      for (index_t i = 0; i < n; ++i) {
        const T s = x[i] >= T(0) ? T(1) : T(-1);
        same_signs = same_signs && s == sign[i];
        sign[i] = s;
      }
      if (same_signs || est <= previous) {
        est = std::max(est, previous);
        break;
      }
      x = sign;
      solve(true);
      const index_t last = j;
      j = argmax();
      if (std::abs(x[last]) == std::abs(x[j])) break;
    }
    // Higham's alternating-sign vector catches matrices that fool the iteration.
    for (index_t i = 0; i < n; ++i) x[i] = (i % 2 ? T(-1) : T(1)) * (T(1) + T(i) / T(n - 1));
    solve(false);
    est = std::max(est, T(2) * norm() / T(3 * n));
  }
  return norm1 * est;
}

template <typename T>
bool all_finite(index_t m, index_t n, const T* a, index_t rsa, index_t csa) {
  // x - x is 0 for finite x and NaN otherwise; a few independent partial sums let the
  // loop vectorise without reordering any one sum.
  if (std::abs(rsa) < std::abs(csa)) std::swap(m, n), std::swap(rsa, csa);
  for (index_t i = 0; i < m; ++i) {
    const T* p = a + i * rsa;
    T s[8] = {};
    index_t j = 0;
    if (csa == 1)
      for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; ++l) s[l] += p[j + l] - p[j + l];
    for (; j < n; ++j) s[0] += p[j * csa] - p[j * csa];
    T total = 0;
    for (T v : s) total += v;
    if (total != T(0)) return false;
  }
  return true;
}

#define REVCORE_INSTANTIATE(T)                                                                  \
  template index_t lu_factor<T>(index_t, index_t, T*, index_t, index_t, std::int32_t*);         \
  template void lu_solve<T>(index_t, index_t, const T*, index_t, index_t, const std::int32_t*,  \
                            bool, T*, index_t, index_t);                                        \
  template void trsm_lower<T>(index_t, index_t, bool, const T*, index_t, index_t, T*, index_t,  \
                              index_t);                                                         \
  template void trsm_upper<T>(index_t, index_t, bool, const T*, index_t, index_t, T*, index_t,  \
                              index_t);                                                         \
  template T lu_condition_estimate<T>(index_t, const T*, index_t, index_t, const std::int32_t*, \
                                      T);                                                       \
  template bool all_finite<T>(index_t, index_t, const T*, index_t, index_t);
REVCORE_INSTANTIATE(float)
REVCORE_INSTANTIATE(double)
#undef REVCORE_INSTANTIATE

}  // namespace revcore
