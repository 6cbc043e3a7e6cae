// GEMM front end: argument normalisation, the small-problem paths, the choice of kernel
// path (once, common/dispatch.hpp), the split over the thread pool and per-thread packing
// buffers.
#include "gemm/gemm.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif
#if defined(__linux__)
#include <sys/mman.h>
#endif
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif

#include "common/cancel.hpp"
#include "common/dispatch.hpp"
#include "common/team.hpp"
#include "common/thread_pool.hpp"
#include "gemm/kernels.hpp"

namespace revcore {
namespace detail {
namespace {

using namespace gemm;

bool amd_zen3();

// The path of common/dispatch.hpp; on Zen 3 its own AVX2 table.
const Table& chosen() {
  static const Table& table = []() -> const Table& {
    const Table& t = dispatch<Table>(&table_generic, &table_avx2, &table_avx512);
    if (&t == table_avx2() && amd_zen3() && table_avx2_zen3() != nullptr) return *table_avx2_zen3();
    return t;
  }();
  return table;
}

// ---------------------------------------------------------------------------------------
// Per-thread packing buffers: kept between calls, grown on demand; never shared. Buffers of
// 2 MiB or more are asked to live on transparent huge pages (Linux, where enabled for
// madvise): the packed A block streams through many 4 KiB pages. Measured on Zen 4, float64
// n = 2048, one thread: 2-4% faster against OpenBLAS (numpy's own large arrays are already
// on huge pages).

struct AlignedDelete {
  std::size_t align = 64;
  void operator()(unsigned char* p) const { ::operator delete(p, std::align_val_t{align}); }
};

class Workspace {
 public:
  void* get(std::size_t bytes) {
    if (bytes > capacity_) {
      buffer_.reset();
      const std::size_t align = bytes >= kHugePage ? kHugePage : 64;
      bytes = (bytes + align - 1) / align * align;
      buffer_ = Buffer(static_cast<unsigned char*>(::operator new(bytes, std::align_val_t{align})),
                       AlignedDelete{align});
#if defined(__linux__) && defined(MADV_HUGEPAGE)
      if (align == kHugePage) madvise(buffer_.get(), bytes, MADV_HUGEPAGE);
#endif
      capacity_ = bytes;
    }
    return buffer_.get();
  }

 private:
  static constexpr std::size_t kHugePage = std::size_t(2) << 20;
  using Buffer = std::unique_ptr<unsigned char, AlignedDelete>;
  Buffer buffer_;
  std::size_t capacity_ = 0;
};

thread_local Workspace workspace;

index_t round_up(index_t x, index_t to) { return (x + to - 1) / to * to; }

// ---------------------------------------------------------------------------------------
// Cache blocks sized at run time from this CPU's caches.

struct CacheSizes {
  long l1d = 0, l2 = 0, l3 = 0;  // bytes; 0 when unknown. L3: the cache a core shares
};

// The deterministic cache parameters of CPUID (leaf 4 on Intel, 0x8000001D on AMD: the same
// layout). True when the leaf exists and reported at least one cache.
bool caches_from_cpuid(CacheSizes& c) {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  unsigned leaf = 4;
  if (__get_cpuid(0x80000000, &eax, &ebx, &ecx, &edx) && eax >= 0x8000001D) {
    __get_cpuid(0x80000001, &eax, &ebx, &ecx, &edx);
    if (ecx & (1u << 22)) leaf = 0x8000001D;  // AMD topology extensions
  }
  if (leaf == 4 && (!__get_cpuid(0, &eax, &ebx, &ecx, &edx) || eax < 4)) return false;
  bool found = false;
  for (unsigned sub = 0; sub < 16; ++sub) {
    if (!__get_cpuid_count(leaf, sub, &eax, &ebx, &ecx, &edx)) break;
    const unsigned type = eax & 31u;  // 0: no more caches, 1: data, 2: instruction, 3: unified
    if (type == 0) break;
    if (type == 2) continue;
    const long bytes = static_cast<long>((ebx >> 22) + 1) * (((ebx >> 12) & 1023u) + 1) *
                       ((ebx & 4095u) + 1) * (static_cast<long>(ecx) + 1);
    const unsigned level = (eax >> 5) & 7u;
    if (level == 1) c.l1d = bytes;
    if (level == 2) c.l2 = bytes;
    if (level == 3) c.l3 = bytes;
    found = true;
  }
  return found;
#else
  (void)c;
  return false;
#endif
}

CacheSizes detect_caches() {
  CacheSizes c;
  if (!caches_from_cpuid(c)) {
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE) && \
    defined(_SC_LEVEL3_CACHE_SIZE)
    c.l1d = sysconf(_SC_LEVEL1_DCACHE_SIZE);
    c.l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    c.l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
  }
  // Implausible values (no such cache reported, a hypervisor's placeholder): unknown.
  if (c.l1d < (16 << 10) || c.l1d > (1 << 20)) c.l1d = 0;
  if (c.l2 < (128 << 10) || c.l2 > (64 << 20)) c.l2 = 0;
  if (c.l3 < (1 << 20) || c.l3 > (1L << 31)) c.l3 = 0;
  return c;
}

index_t round_down(index_t x, index_t to) { return x / to * to; }

// AMD family 19h (Zen 3 and Zen 4; of these only Zen 4 has AVX-512, so only Zen 4 reaches the
// avx512 kernels with this true).
bool amd_family_19h() {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return false;
  const bool amd = ebx == 0x68747541u && edx == 0x69746e65u && ecx == 0x444d4163u;  // AuthenticAMD
  if (!amd || !__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  const unsigned base = (eax >> 8) & 15u;
  const unsigned family = base == 15u ? base + ((eax >> 20) & 255u) : base;
  return family == 0x19;
#else
  return false;
#endif
}

// AMD Zen 3: family 19h without AVX-512 (Zen 4, the same family, has it).
bool amd_zen3() { return amd_family_19h() && best_supported_isa() == Isa::avx2; }

// The cache blocks of an ISA's default row (bl), tuned on a CPU with a 32 KiB L1d, a 1 MiB
// L2 and a 32 MiB L3, rescaled to the caches found:
// - KC with L1d, so the A micro-panel (MR x KC, reused from L1 by every B micro-panel of the
//   block) keeps its share of L1 (on a 48 KiB L1d: 1.5x deeper, so C is read and written
//   back 1.5x less often);
// - NC with L2, so the B block (KC x NC, streamed from L2 once per A micro-panel) keeps its
//   share of L2;
// - MC from L3: the A block (MC x KC, read from L3 once per B block) a twelfth of L3 (on a
//   32 MiB L3 about 1100 rows of float, 860 of double). Measured on a Zen 5 shared with other
//   jobs, n = 2048: 3-6% faster than blocks of a quarter of L3 (which pack B only once, but
//   whose A block no longer stays in L3), the same at n = 1024.
// Unknown sizes keep the default.
//
// deep: Zen 4 (AVX-512 in two 256-bit halves, 32 KiB L1d, 1 MiB L2). There the blocks above
// leave the product about 5% short of OpenBLAS: each pass over C (k / KC of them) costs more
// than the A micro-panel gains from staying in L1. Measured there at one thread against
// OpenBLAS's SkylakeX kernels in the same process, square n = 512 to 2048 and the dense
// layer's 256 x 1024 x 1024: KC twice as deep (512 double, 768 float; the A micro-panel then
// streams from L2 like B's) is 4-8% faster in both types than the blocks above, and than KC
// 1.5x or 3x deeper or the 8 x 24 double register block. The B block: L2 in double (1.5x L2
// is as fast on square products, 2-5% slower with 256 rows of A), 1.5x L2 in float (3% faster
// than L2 on square products, 1% slower with 256 rows). The A block keeps its rows (so a
// sixth of L3).
Plan cache_plan(const Blocking& bl, std::size_t elem, const CacheSizes& c, bool deep) {
  Plan p{bl.KC, bl.MC, bl.NC, false, false};
  const auto es = static_cast<index_t>(elem);
  if (c.l1d > 0)
    p.kc = std::clamp(round_down(bl.KC * c.l1d / (32 << 10), 16), bl.KC / 2, 2 * bl.KC);
  const index_t a_block_kc = p.kc;
  if (deep) p.kc *= 2;
  if (c.l2 > 0) {
    const index_t b_block = !deep     ? bl.KC * bl.NC * c.l2 / (1 << 20)
                            : es == 4 ? c.l2 * 3 / 2 / es
                                      : c.l2 / es;
    p.nc = std::max(bl.NR, round_down(b_block / p.kc, bl.NR));
  }
  if (c.l3 > 0) {
    const index_t rows = c.l3 / 12 / (a_block_kc * es);
    p.mc = std::clamp(round_down(rows, bl.MR), 8 * bl.MR, round_down(4096, bl.MR));
  }
  return p;
}

// Zen 3 (AVX2 only, 32 KiB L1d, 512 KiB L2, 32 MiB L3), from its caches (unknown ones taken
// as these): the A micro-panel (MR x KC) 3/8 of L1d, so 12 KiB (KC 384 double with its 4-row
// panels, 512 float); the B block (KC x NC) a quarter of L2 to the nearest whole micro-panel
// (NC 48 double, 64 float); the A block (MC x KC) 1/24 of L3 (452 rows double, 678 float on
// 32 MiB). Measured there at one thread, with the other core busy, against cache_plan's
// blocks for this CPU (KC 256 double / 384 float, MC 1362 / 1818, NC 128 / 192), whose B
// block (half of L2) does not stay there beside the A panels and C lines passing through:
// 5-10% faster at n = 1024 and 4096 x 1024 x 1024 in double, 3-6% in float.
Plan zen3_plan(const Blocking& bl, std::size_t elem, const CacheSizes& c) {
  Plan p{bl.KC, bl.MC, bl.NC, false, false};
  const auto es = static_cast<index_t>(elem);
  const long l1d = c.l1d > 0 ? c.l1d : 32 << 10;
  const long l2 = c.l2 > 0 ? c.l2 : 512 << 10;
  const long l3 = c.l3 > 0 ? c.l3 : 32 << 20;
  p.kc = std::max<index_t>(64, round_down(l1d * 3 / 8 / (bl.MR * es), 16));
  const index_t panels = (l2 / 4 / (p.kc * es) + bl.NR / 2) / bl.NR;  // nearest whole number
  p.nc = std::max<index_t>(1, panels) * bl.NR;
  p.mc = std::clamp(round_down(l3 / 24 / (p.kc * es), bl.MR), 8 * bl.MR, round_down(4096, bl.MR));
  return p;
}

template <typename T>
const Plan& cache_blocks() {
  static const Plan plan =
      &chosen() == table_avx2_zen3()
          ? zen3_plan(chosen().of<T>().blocking, sizeof(T), detect_caches())
          : cache_plan(chosen().of<T>().blocking, sizeof(T), detect_caches(),
                       std::strcmp(chosen().isa, "avx512") == 0 && amd_family_19h());
  return plan;
}

// Rows of C in equal blocks of at most 5/4 MC: no thin last block that packs all of B again
// for a few rows (m = 1024 takes one block of double rather than 864 + 160 rows).
Plan balance_rows(Plan plan, index_t m, index_t mr) {
  const index_t row_blocks = (m * 4 + plan.mc * 5 - 1) / (plan.mc * 5);
  plan.mc = round_up((m + row_blocks - 1) / row_blocks, mr);
  return plan;
}

template <typename T>
void run_blocked_serial(const Kernels<T>& ops, const Args<T>& g, Plan plan) {
  const Blocking& bl = ops.blocking;
  plan = balance_rows(plan, g.m, bl.MR);
  const index_t kc = std::min(plan.kc, g.k);
  // + 64: packing may store up to one vector past a block.
  const index_t a_elems = round_up(std::min(plan.mc, g.m) * kc + 64, 16);
  const index_t b_elems = round_up(std::min(plan.nc, round_up(g.n, bl.NR)) * kc + 64, 16);
  T* buf = static_cast<T*>(workspace.get(static_cast<std::size_t>(a_elems + b_elems) * sizeof(T)));
  ops.gemm_blocked(g, buf, buf + a_elems, plan);
}

// Below this many float32 flops (2mnk; float64 counts double) a product runs on the calling
// thread. Measured with other jobs on the machine: waking a worker costs 10-50 us, 2 threads
// break even near 12 Mflop (~120 us) and give 1.4x at 34 Mflop, 1.8x at 270 Mflop.
constexpr double kParallelMinFlops = 16.0e6;

// Fewest rows per part for which the threads split C along its rows rather than share the
// packed A blocks (run_blocked).
constexpr index_t kRowSplitMinRows = 1024;

// Widest C for which A is read in place instead of packed.
constexpr index_t kDirectAMaxN = 128;

// The team product (Kernels::gemm_team): every member at once, sharing each packed A block.
// Columns of C go out in claims of about a quarter of a member's share, whole micro-panels
// and no wider than the B block (NC), so that a member slowed by other jobs on the machine
// takes fewer of them. False when the pool was busy (nothing done).
template <typename T>
bool run_team(const Kernels<T>& ops, const Args<T>& g, Plan plan, int threads) {
  const Blocking& bl = ops.blocking;
  plan = balance_rows(plan, g.m, bl.MR);
  const index_t panels = (g.n + bl.NR - 1) / bl.NR;
  const index_t claims = 4 * static_cast<index_t>(threads);
  const index_t unit = std::min(plan.nc, (panels + claims - 1) / claims * bl.NR);
  const index_t kc = std::min(plan.kc, g.k);
  const index_t a_elems = round_up(std::min(plan.mc, g.m) * kc + 64, 16);
  const index_t b_elems = round_up(unit * kc + 64, 16);
  // Allocated here, before the region: nothing in it may throw while others wait for it.
  T* buf = static_cast<T*>(workspace.get(
      static_cast<std::size_t>(a_elems + b_elems * static_cast<index_t>(threads)) * sizeof(T)));
  TeamSync sync;
  plan.nc = unit;
  const Team<T> team{&sync, threads, buf, buf + a_elems, b_elems, unit, plan};
  const PoolTask task = [&](int member) { ops.gemm_team(g, team, member); };
  return pool_try_run(threads, task);
}

template <typename T>
void run_blocked(const Kernels<T>& ops, const Args<T>& g, Plan plan) {
  const int threads = get_num_threads();
  const double flops = 2.0 * static_cast<double>(g.m) * static_cast<double>(g.n) *
                       static_cast<double>(g.k) * static_cast<double>(sizeof(T) / sizeof(float));
  const Blocking& bl = ops.blocking;
  if (threads > 1 && flops >= kParallelMinFlops) {
    // A team shares the packed A blocks and splits the columns (run_team) when there are
    // enough columns for every member to claim two micro-panels or more, and too few rows
    // for the split below to pay for packing B once per part: with kRowSplitMinRows rows per
    // part that costs at most a few percent, less than the team's waits between phases
    // (measured on 2 cores, 4096 x 256 and 4096 x 1024 dense layers: 1.9-2.0x one thread with
    // the rows split, 1.7-1.9x with the team).
    const bool tall = g.m >= 2 * static_cast<index_t>(threads) * kRowSplitMinRows;
    if (!tall && g.n >= 2 * static_cast<index_t>(threads) * bl.NR) {
      if (run_team(ops, g, plan, threads)) return;
      run_blocked_serial(ops, g, plan);
      return;
    }
    // Tall or narrow C (B packed again per part, cheap then): independent parts along the
    // rows, claimed one at a time from a counter, each packing its own panels; a worker that
    // starts late takes fewer parts instead of holding up the caller. Two parts per thread.
    const index_t part = round_up((g.m + 2 * threads - 1) / (2 * threads), bl.MR);
    const index_t parts = (g.m + part - 1) / part;
    const auto run_part = [&](index_t p) {
      Args<T> sub = g;
      const index_t begin = p * part;
      sub.m = std::min(part, g.m - begin);
      sub.a += begin * g.rsa;
      sub.c += begin * g.rsc;
      if (sub.bias_m) sub.bias_m += begin;
      run_blocked_serial(ops, sub, plan);
    };
    if (parts > 1 && claim_parts(parts, threads, run_part)) return;
  }
  run_blocked_serial(ops, g, plan);
}

template <typename T>
void transpose_problem(Args<T>& g) {
  std::swap(g.m, g.n);
  const T* a = g.a;
  const index_t rsa = g.rsa, csa = g.csa;
  g.a = g.b;
  g.rsa = g.csb;
  g.csa = g.rsb;
  g.b = a;
  g.rsb = csa;
  g.csb = rsa;
  std::swap(g.rsc, g.csc);
  std::swap(g.bias_n, g.bias_m);
}

template <typename T>
void run_product(Args<T> g) {
  const Kernels<T>& ops = chosen().of<T>();
  // The kernels hold vectors along rows of C: give C a unit column stride where it has one.
  const bool c_unit_rows = g.rsc == 1 || g.rsc == -1;
  const bool c_unit_cols = g.csc == 1 || g.csc == -1;
  if (g.m > 1 && (g.n == 1 || (!c_unit_cols && c_unit_rows))) transpose_problem(g);
  if (g.m == 1) {
    T* work = nullptr;
    if (g.csa != 1)
      work = static_cast<T*>(workspace.get(static_cast<std::size_t>(g.k) * sizeof(T)));
    ops.gemv(g, work);
    return;
  }
  if (g.csc == -1 && g.bias_n == nullptr) {
    // Walk the columns backwards: the same product with n reversed in B and C.
    g.c += (g.n - 1) * g.csc;
    g.csc = 1;
    g.b += (g.n - 1) * g.csb;
    g.csb = -g.csb;
  }
  // Packing A costs about as much as n/16 flops per element: skip it for narrow C (measured:
  // n <= 128) when A's rows are contiguous and not 4 KiB apart (all rows of a micro-panel
  // would then compete for the same L1 sets). B is read in place when it fits in L2.
  Plan plan = cache_blocks<T>();
  plan.a_in_place =
      g.csa == 1 && g.n <= kDirectAMaxN && (g.rsa * static_cast<index_t>(sizeof(T))) % 4096 != 0;
  plan.b_in_place = g.csb == 1 && g.n * g.k * static_cast<index_t>(sizeof(T)) <= (256 << 10);
  run_blocked(ops, g, plan);
}

// C = act(value(j)) for every row, with value(j) = bias[j] or 0: the k == 0 dense layer.
template <typename T>
void fill_bias_act(index_t m, index_t n, T* c, index_t rsc, index_t csc, const T* bias,
                   Activation act, T slope) {
  const Kernels<T>& ops = chosen().of<T>();
  constexpr index_t chunk = 512;
  T row[chunk];
  for (index_t j0 = 0; j0 < n; j0 += chunk) {
    const index_t nb = std::min(chunk, n - j0);
    for (index_t j = 0; j < nb; ++j) row[j] = bias ? bias[j0 + j] : T(0);
    ops.activation(row, nb, act, slope);
    for (index_t i = 0; i < m; ++i)
      for (index_t j = 0; j < nb; ++j) c[i * rsc + (j0 + j) * csc] = row[j];
  }
}

template <typename T>
void scale_c(index_t m, index_t n, T beta, T* c, index_t rsc, index_t csc) {
  if (beta == T(1)) return;
  for (index_t i = 0; i < m; ++i) {
    T* row = c + i * rsc;
    if (beta == T(0)) {
      for (index_t j = 0; j < n; ++j) row[j * csc] = T(0);
    } else {
      for (index_t j = 0; j < n; ++j) row[j * csc] *= beta;
    }
  }
}

void check_sizes(index_t m, index_t n, index_t k) {
  if (m < 0 || n < 0 || k < 0) throw std::invalid_argument("gemm: negative matrix size");
}

}  // namespace
}  // namespace detail

template <typename T>
void gemm(index_t m, index_t n, index_t k, T alpha, const T* a, index_t rsa, index_t csa,
          const T* b, index_t rsb, index_t csb, T beta, T* c, index_t rsc, index_t csc) {
  detail::check_sizes(m, n, k);
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == T(0)) {
    detail::scale_c(m, n, beta, c, rsc, csc);
    return;
  }
  detail::run_product(detail::Args<T>{m, n, k, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc,
                                      nullptr, nullptr, Activation::identity, T(0)});
}

template <typename T>
void gemm_bias_act(index_t m, index_t n, index_t k, const T* a, index_t rsa, index_t csa,
                   const T* b, index_t rsb, index_t csb, T* c, index_t rsc, index_t csc,
                   const T* bias, Activation act, T negative_slope) {
  detail::check_sizes(m, n, k);
  if (m == 0 || n == 0) return;
  if (k == 0) {
    detail::fill_bias_act(m, n, c, rsc, csc, bias, act, negative_slope);
    return;
  }
  detail::run_product(detail::Args<T>{m, n, k, T(1), a, rsa, csa, b, rsb, csb, T(0), c, rsc, csc,
                                      bias, nullptr, act, negative_slope});
}

template void gemm<float>(index_t, index_t, index_t, float, const float*, index_t, index_t,
                          const float*, index_t, index_t, float, float*, index_t, index_t);
template void gemm<double>(index_t, index_t, index_t, double, const double*, index_t, index_t,
                           const double*, index_t, index_t, double, double*, index_t, index_t);
template void gemm_bias_act<float>(index_t, index_t, index_t, const float*, index_t, index_t,
                                   const float*, index_t, index_t, float*, index_t, index_t,
                                   const float*, Activation, float);
template void gemm_bias_act<double>(index_t, index_t, index_t, const double*, index_t, index_t,
                                    const double*, index_t, index_t, double*, index_t, index_t,
                                    const double*, Activation, double);

const char* gemm_kernel_name() { return detail::chosen().isa; }

template <typename T>
double fma_peak_gflops(double seconds, int repeats) {
  using clock = std::chrono::steady_clock;
  const auto probe = detail::chosen().of<T>().fma_probe;
  T sink = 0;
  const auto run = [&](index_t rounds) {  // one run: its flops and its seconds
    const auto start = clock::now();
    const double flops = probe(rounds, &sink);
    const double took = std::chrono::duration<double>(clock::now() - start).count();
    return std::pair{flops, std::max(took, 1e-9)};
  };
  // Rounds for about `seconds`: doubled from a few thousand until one run takes a tenth of it.
  index_t rounds = 4096;
  for (;;) {
    const double took = run(rounds).second;
    if (took >= seconds / 10 || rounds >= (index_t(1) << 40)) {
      rounds =
          std::max<index_t>(static_cast<index_t>(static_cast<double>(rounds) * seconds / took), 1);
      break;
    }
    rounds *= 2;
  }
  double best = 0;
  for (int r = 0; r < std::max(repeats, 1); ++r) {
    const auto [flops, took] = run(rounds);
    best = std::max(best, flops / took * 1e-9);
  }
  // the chains' result is used, so the compiler keeps every FMA
  return sink == sink ? best : 0.0;
}

template double fma_peak_gflops<float>(double, int);
template double fma_peak_gflops<double>(double, int);

}  // namespace revcore
