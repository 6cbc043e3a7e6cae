// The blocked GEMM (packing, macro-kernel, register-blocked micro-kernel) and the m == 1
// product, written once over a Simd<T> backend and a blocking row. Each ISA's translation
// unit includes its simd/<isa>.hpp, then this header, so every function here is compiled with
// that ISA's flags in its own namespace (REVCORE_ISA).
#pragma once

#ifndef REVCORE_ISA
#error "include the ISA's simd/<isa>.hpp before this header"
#endif

#include <cstddef>
#include <utility>

#include "common/cancel.hpp"
#include "common/common.hpp"
#include "common/team.hpp"
#include "gemm/kernels.hpp"

namespace revcore::detail::REVCORE_ISA {

using gemm::Args;
using gemm::Blocking;
using gemm::Plan;

inline index_t imin(index_t a, index_t b) { return a < b ? a : b; }

// A hint to start loading the cache line at p, to read it or (kWrite) to write it, into L1
// (kLevel 1) or only as far as L2 (kLevel 2); no effect where the compiler has no builtin.
template <bool kWrite = false, int kLevel = 1>
inline void prefetch(const void* p) {
  static_assert(kLevel == 1 || kLevel == 2, "prefetch into L1 or L2");
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p, kWrite ? 1 : 0, kLevel == 1 ? 3 : 2);
#else
  (void)p;
#endif
}

// Rows ahead that the packing loops prefetch: the rows of a block are far apart in memory,
// so the hardware prefetcher does not follow from one row to the next.
constexpr index_t kPackAhead = 8;

// MR rows of C per micro-kernel (each row a broadcast of packed A), NV vectors of VL columns
// (loaded from packed B), so NR = NV * VL. KC, MC, NC: see the loop nest in gemm_blocked.
template <class S_, const Blocking& B>
struct GemmConfig {
  using S = S_;
  using T = typename S::T;
  static constexpr int MR = static_cast<int>(B.MR);
  static constexpr int VL = S::VL;
  static constexpr int NV = static_cast<int>(B.NR / S::VL);
  static constexpr index_t NR = B.NR;
  static constexpr int KU = static_cast<int>(B.KU);
  static constexpr Blocking blocking = B;
  static_assert(B.NR % S::VL == 0, "NR is a whole number of vectors");
  static_assert(B.MC % B.MR == 0 && B.NC % B.NR == 0, "cache blocks hold whole panels");
  static_assert(B.KU == 1 || B.KU == 4, "the k loop is unrolled 4 times or left as it is");
};

template <typename T>
struct WriteBack {
  T alpha;
  T beta;           // 0: C is not read
  const T* bias_n;  // at the tile's first column, or null
  const T* bias_m;  // at the tile's first row, or null
};

// C[0:R, 0:NV*VL] = alpha * Apanel Bpanel + beta * C (+ bias), C rows contiguous.
// pa: packed A micro-panel, R values per k step, or (DirectA) A itself, rows lda apart with
// unit column stride; pb: NV*VL values per k step, ldb apart.
template <class Cfg, int R, int NV, bool DirectA>
void gemm_ukernel(index_t kc, const typename Cfg::T* __restrict pa, index_t lda,
                  const typename Cfg::T* __restrict pb, index_t ldb, typename Cfg::T* __restrict c,
                  index_t rsc, const WriteBack<typename Cfg::T>& wb) {
  using S = typename Cfg::S;
  using V = typename S::V;
  constexpr int VL = S::VL;
  V acc[R][NV];
#pragma GCC unroll 32
  for (int i = 0; i < R; ++i) {
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[i][v] = S::zero();
  }
  // The tile of C is read and written only after the k loop: its lines are fetched into L2
  // now, and into L1 one row per k step over the last R steps. Fetched into L1 here, they
  // would not last a deep k loop whose A and B panels stream through L1 (on Zen 4 with its
  // KC, gemm.cpp): measured there 2-4% faster at n = 2048.
#pragma GCC unroll 32
  for (int i = 0; i < R; ++i) {
    prefetch<false, 2>(c + i * rsc);
    prefetch<false, 2>(c + i * rsc + NV * VL - 1);
  }
  auto step = [&] {
    V bv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) bv[v] = S::load(pb + v * VL);
#pragma GCC unroll 32
    for (int i = 0; i < R; ++i) {
      const V av = S::set1(DirectA ? pa[i * lda] : pa[i]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[i][v] = S::fmadd(av, bv[v], acc[i][v]);
    }
    pa += DirectA ? 1 : R;
    pb += ldb;
  };
  const index_t body = kc > R ? kc - R : 0;
  if constexpr (Cfg::KU == 4) {
    // (the pragma takes no template argument; unrolled by hand, the loop came out with its
    // registers shuffled and 6% slower)
#pragma GCC unroll 4
    for (index_t p = 0; p < body; ++p) step();
  } else {
    for (index_t p = 0; p < body; ++p) step();
  }
  for (index_t i = R - (kc - body); i < R; ++i) {
    prefetch<true>(c + i * rsc);
    prefetch<true>(c + i * rsc + NV * VL - 1);
    step();
  }
  const bool scale = wb.alpha != 1;
  const bool accumulate = wb.beta != 0;
  const V alpha = S::set1(wb.alpha);
  const V beta = S::set1(wb.beta);
#pragma GCC unroll 32
  for (int i = 0; i < R; ++i) {
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      V r = acc[i][v];
      typename Cfg::T* cp = c + i * rsc + v * VL;
      if (scale) r = S::mul(r, alpha);
      if (accumulate) r = S::fmadd(beta, S::load(cp), r);
      if (wb.bias_n) r = S::add(r, S::load(wb.bias_n + v * VL));
      if (wb.bias_m) r = S::add(r, S::set1(wb.bias_m[i]));
      S::store(cp, r);
    }
  }
}

template <class Cfg>
using GemmUkernelFn = void (*)(index_t, const typename Cfg::T*, index_t, const typename Cfg::T*,
                               index_t, typename Cfg::T*, index_t,
                               const WriteBack<typename Cfg::T>&);

template <class Cfg>
struct GemmUkernelTable {
  GemmUkernelFn<Cfg> fn[2][Cfg::MR][Cfg::NV];  // [A in place][rows - 1][vectors - 1]
};

template <class Cfg, std::size_t... I>
constexpr GemmUkernelTable<Cfg> make_ukernel_table(std::index_sequence<I...>) {
  constexpr std::size_t half = std::size_t(Cfg::MR) * Cfg::NV;
  GemmUkernelTable<Cfg> t{};
  ((t.fn[I / half][(I % half) / Cfg::NV][I % Cfg::NV] =
        &gemm_ukernel<Cfg, static_cast<int>((I % half) / Cfg::NV) + 1,
                      static_cast<int>(I % Cfg::NV) + 1, (I / half) == 1>),
   ...);
  return t;
}

template <class Cfg>
inline constexpr GemmUkernelTable<Cfg> gemm_ukernel_table =
    make_ukernel_table<Cfg>(std::make_index_sequence<std::size_t(2 * Cfg::MR * Cfg::NV)>{});

// dst[p * ldd + c] = src[c * lds + p] for p < VL and c < count (<= VL), through an
// in-register transpose. Stores VL values per p, in increasing p: with ldd < VL a store
// overruns into the next p (rewritten by its own store) and past the last one (the caller
// writes that part afterwards, or it is buffer slack).
template <class S>
void transpose_block(const typename S::T* src, index_t lds, index_t count, typename S::T* dst,
                     index_t ldd) {
  typename S::V v[S::VL];
  if (count == S::VL) {  // no per-row condition, or v goes through the stack
#pragma GCC unroll 16
    for (int c = 0; c < S::VL; ++c) v[c] = S::load(src + c * lds);
  } else {
#pragma GCC unroll 16
    for (int c = 0; c < S::VL; ++c) v[c] = c < count ? S::load(src + c * lds) : S::zero();
  }
  S::transpose(v);
#pragma GCC unroll 16
  for (int p = 0; p < S::VL; ++p) S::store(dst + p * ldd, v[p]);
}

// Packs the mc x kc block of A into micro-panels of MR rows (the last one may have fewer,
// r rows); see the layout above gemm_blocked. Writes up to VL elements of slack past the end,
// unless exact_end (mc a whole number of panels): then nothing past the last panel, so that
// team members can pack neighbouring panels of one buffer at once.
template <class Cfg>
void pack_a(index_t mc, index_t kc, const typename Cfg::T* a, index_t rsa, index_t csa,
            typename Cfg::T* __restrict dst, bool exact_end = false) {
  using S = typename Cfg::S;
  constexpr index_t MR = Cfg::MR, VL = Cfg::VL;
  // The stores of the last transposed chunk of a row reach at most VL - 1 - (MR - 1) % VL
  // elements past it, which the scalar k tail of a whole panel (MR or more elements per k
  // step) always covers.
  static_assert(VL == 1 || VL - 1 - (MR - 1) % VL <= MR, "the k tail covers the overrun");
  for (index_t i0 = 0; i0 < mc; i0 += MR) {
    const index_t r = imin(MR, mc - i0);
    const typename Cfg::T* ap = a + i0 * rsa;
    if (csa == 1 && VL > 1) {
      // Rows contiguous: VL x VL transposes. Row chunks last to first, so the overrun of a
      // chunk's stores is rewritten by the chunks before it; then the k tail (for an exact
      // end at least one k step in the last panel, which rewrites the overrun of the steps
      // before).
      const index_t kv = exact_end && i0 + MR >= mc ? (kc - 1) / VL * VL : kc / VL * VL;
      for (index_t c0 = (r - 1) / VL * VL; c0 >= 0; c0 -= VL) {
        for (index_t p0 = 0; p0 < kv; p0 += VL)
          transpose_block<S>(ap + c0 * rsa + p0, rsa, imin(VL, r - c0), dst + p0 * r + c0, r);
      }
      for (index_t p = kv; p < kc; ++p)
        for (index_t i = 0; i < r; ++i) dst[p * r + i] = ap[i * rsa + p];
    } else if (rsa == 1) {
      for (index_t p = 0; p < kc; ++p)
        for (index_t i = 0; i < r; ++i) dst[p * r + i] = ap[p * csa + i];
    } else {
      for (index_t p = 0; p < kc; ++p)
        for (index_t i = 0; i < r; ++i) dst[p * r + i] = ap[i * rsa + p * csa];
    }
    dst += r * kc;
  }
}

// Packs the kc x nc block of B into micro-panels of NR columns; the last panel is w columns
// rounded up to whole vectors and zero-filled beyond w.
template <class Cfg>
void pack_b(index_t kc, index_t nc, const typename Cfg::T* b, index_t rsb, index_t csb,
            typename Cfg::T* __restrict dst) {
  using T = typename Cfg::T;
  using S = typename Cfg::S;
  constexpr index_t NR = Cfg::NR, VL = Cfg::VL;
  const index_t full = nc / NR;  // whole panels
  if (csb == 1 && full > 0) {
    // Rows contiguous: whole vectors, along each row of B across the panels (one stream
    // read in order; a byte-wise copy per NR-wide piece costs a library call each).
    for (index_t p = 0; p < kc; ++p) {
      const T* row = b + p * rsb;
      if (p + kPackAhead < kc) {
        const char* ahead = reinterpret_cast<const char*>(row + kPackAhead * rsb);
        for (index_t byte = 0; byte < full * NR * index_t(sizeof(T)); byte += 64)
          prefetch(ahead + byte);
      }
      T* out = dst + p * NR;
      for (index_t jp = 0; jp < full; ++jp) {
#pragma GCC unroll 8
        for (index_t v = 0; v < NR / VL; ++v)
          S::store(out + jp * NR * kc + v * VL, S::load(row + jp * NR + v * VL));
      }
    }
    dst += full * NR * kc;
    b += full * NR;
    nc -= full * NR;
  }
  for (index_t j0 = 0; j0 < nc; j0 += NR) {
    const index_t w = imin(NR, nc - j0);
    const index_t wp = (w + VL - 1) / VL * VL;
    const T* bp = b + j0 * csb;
    if (csb == 1) {
      for (index_t p = 0; p < kc; ++p) {
        for (index_t j = 0; j < w; ++j) dst[p * wp + j] = bp[p * rsb + j];
        for (index_t j = w; j < wp; ++j) dst[p * wp + j] = T(0);
      }
    } else if (rsb == 1 && VL > 1) {
      // Columns contiguous (B = W^T of a row-major W): VL x VL transposes, then the k tail.
      const index_t kv = kc / VL * VL;
      for (index_t c0 = 0; c0 < wp; c0 += VL) {
        for (index_t p0 = 0; p0 < kv; p0 += VL)
          transpose_block<S>(bp + c0 * csb + p0, csb, imin(VL, w - c0), dst + p0 * wp + c0, wp);
      }
      for (index_t p = kv; p < kc; ++p) {
        for (index_t j = 0; j < w; ++j) dst[p * wp + j] = bp[j * csb + p];
        for (index_t j = w; j < wp; ++j) dst[p * wp + j] = T(0);
      }
    } else {
      for (index_t p = 0; p < kc; ++p) {
        for (index_t j = 0; j < w; ++j) dst[p * wp + j] = bp[p * rsb + j * csb];
        for (index_t j = w; j < wp; ++j) dst[p * wp + j] = T(0);
      }
    }
    dst += wp * kc;
  }
}

// Ragged or strided tile: the micro-kernel wrote the raw product into tile (row stride ldt);
// finish alpha, beta, bias and activation here, then scatter into C.
template <class Cfg>
void store_tile_general(typename Cfg::T* tile, index_t ldt, index_t r, index_t w,
                        typename Cfg::T* c, index_t rsc, index_t csc,
                        const WriteBack<typename Cfg::T>& wb, Activation act,
                        typename Cfg::T slope) {
  using T = typename Cfg::T;
  for (index_t i = 0; i < r; ++i) {
    T* t = tile + i * ldt;
    T* cr = c + i * rsc;
    const T bm = wb.bias_m ? wb.bias_m[i] : T(0);
    for (index_t j = 0; j < w; ++j) {
      T v = wb.alpha * t[j];
      if (wb.beta != 0) v += wb.beta * cr[j * csc];
      if (wb.bias_n) v += wb.bias_n[j];
      t[j] = v + bm;
    }
  }
  activation_inplace<typename Cfg::S>(tile, ldt, r, w, act, slope);
  for (index_t i = 0; i < r; ++i) {
    const T* t = tile + i * ldt;
    T* cr = c + i * rsc;
    for (index_t j = 0; j < w; ++j) cr[j * csc] = t[j];
  }
}

// Loop nest (BLIS-like, with the roles of the two panels chosen for vectors along rows of C):
//
//   for ic in m, step MC:                 A block, MC x KC, packed once per (ic, pc): L3
//     for pc in k, step KC:
//       pack A block (or read A in place: narrow C, unit column stride)
//       for jc in n, step NC:             B block, KC x NC, packed per (ic, pc, jc): L2
//         pack B block (or read B in place: B fits in L2, unit column stride)
//         for ir in MC, step MR:          A micro-panel, MR x KC: L1/L2, reused for every jr
//           for jr in NC, step NR:        B micro-panel, KC x NR, streamed from L2
//             micro-kernel: C[ir:ir+MR, jr:jr+NR] (+)= A micro-panel * B micro-panel
//           activation on C[ir:ir+MR, jc:jc+NC] (last pc only), just written
//
// Packed layouts (element (i, p) of A, (p, j) of B; offsets in elements; kc = this block's
// depth, at most KC):
//   A block:  micro-panels of r = MR rows (the last: mc % MR rows) one after another;
//             inside a panel p-major: panel[p * r + i]. Panel of row ir starts at ir * kc.
//   B block:  micro-panels of NR columns; inside a panel p-major: panel[p * w + j], where
//             w = NR, or for the last panel its width rounded up to a multiple of VL with
//             zeros beyond nc. Panel of column jr starts at jr * kc.
//   In place: the same micro-panel shapes read straight from A (rows rsa apart) or B (rows
//             rsb apart); a ragged last B panel is still packed.
// The micro-kernel broadcasts r values of A and loads NR/VL vectors of B per k step.
// beta applies on the first KC step (then 1); bias and activation on the last. C tiles that
// are ragged (width not a whole number of vectors) or have a non-unit column stride go
// through a small tile buffer.
// C[ic:ic+mc, jc:jc+nc] for the k slice [pc, pc + kc), with the A block already packed into
// pack_a_buf (or read in place); packs its part of B into pack_b_buf first (see gemm_blocked).
template <class Cfg>
void gemm_block(const Args<typename Cfg::T>& g, index_t ic, index_t mc, index_t pc, index_t kc,
                index_t jc, index_t nc, const typename Cfg::T* pack_a_buf,
                typename Cfg::T* pack_b_buf, bool a_direct, bool b_direct) {
  using T = typename Cfg::T;
  using S = typename Cfg::S;
  constexpr index_t MR = Cfg::MR, NR = Cfg::NR, VL = Cfg::VL;
  const bool c_direct = g.csc == 1;
  const bool last = pc + kc == g.k;
  const T beta = pc == 0 ? g.beta : T(1);
  const T* ablock = g.a + ic * g.rsa + pc * g.csa;
  alignas(64) T tile[MR * NR];
  const auto& table = gemm_ukernel_table<Cfg>;
  const T* bblock = g.b + pc * g.rsb + jc * g.csb;
  const index_t ragged = nc % NR;
  if (!b_direct) {
    pack_b<Cfg>(kc, nc, bblock, g.rsb, g.csb, pack_b_buf);
  } else if (ragged % VL != 0) {
    pack_b<Cfg>(kc, ragged, bblock + (nc - ragged), g.rsb, 1, pack_b_buf);
  }
  for (index_t ir = 0; ir < mc; ir += MR) {
    const index_t r = imin(MR, mc - ir);
    const T* pa = a_direct ? ablock + ir * g.rsa : pack_a_buf + ir * kc;
    index_t direct_cols = 0;  // C[ir:ir+r, jc:jc+direct_cols] still needs the activation
    for (index_t jr = 0; jr < nc; jr += NR) {
      const index_t w = imin(NR, nc - jr);
      const index_t nv = (w + VL - 1) / VL;
      const T* pb;
      index_t ldb;
      if (!b_direct) {
        pb = pack_b_buf + jr * kc;
        ldb = nv * VL;
      } else if (w % VL == 0) {
        pb = bblock + jr;
        ldb = g.rsb;
      } else {
        pb = pack_b_buf;
        ldb = nv * VL;
      }
      const auto kernel = table.fn[a_direct][r - 1][nv - 1];
      T* cp = g.c + (ic + ir) * g.rsc + (jc + jr) * g.csc;
      WriteBack<T> wb{g.alpha, beta, nullptr, nullptr};
      if (last) {
        wb.bias_n = g.bias_n ? g.bias_n + jc + jr : nullptr;
        wb.bias_m = g.bias_m ? g.bias_m + ic + ir : nullptr;
      }
      if (c_direct && w == nv * VL) {
        kernel(kc, pa, g.rsa, pb, ldb, cp, g.rsc, wb);
        direct_cols = jr + w;
      } else {
        kernel(kc, pa, g.rsa, pb, ldb, tile, NR, WriteBack<T>{T(1), T(0), nullptr, nullptr});
        store_tile_general<Cfg>(tile, NR, r, w, cp, g.rsc, g.csc, wb,
                                last ? g.act : Activation::identity, g.slope);
      }
    }
    // One pass over the row panel just written (in L1/L2) rather than per tile: the
    // activation's long dependency chains then overlap each other, not the next tile's
    // FMAs.
    if (last && direct_cols > 0)
      activation_inplace<S>(g.c + (ic + ir) * g.rsc + jc, g.rsc, r, direct_cols, g.act, g.slope);
  }
}

template <class Cfg>
void gemm_blocked(const Args<typename Cfg::T>& g, typename Cfg::T* pack_a_buf,
                  typename Cfg::T* pack_b_buf, Plan plan) {
  const bool a_direct = plan.a_in_place && g.csa == 1;
  const bool b_direct = plan.b_in_place && g.csb == 1;
  for (index_t ic = 0; ic < g.m; ic += plan.mc) {
    const index_t mc = imin(plan.mc, g.m - ic);
    for (index_t pc = 0; pc < g.k; pc += plan.kc) {
      const index_t kc = imin(plan.kc, g.k - pc);
      if (!a_direct) pack_a<Cfg>(mc, kc, g.a + ic * g.rsa + pc * g.csa, g.rsa, g.csa, pack_a_buf);
      for (index_t jc = 0; jc < g.n; jc += plan.nc) {
        // Between cache blocks (not before the first: small products never read the clock).
        if ((ic | pc | jc) != 0 && cancelled()) return;
        gemm_block<Cfg>(g, ic, mc, pc, kc, jc, imin(plan.nc, g.n - jc), pack_a_buf, pack_b_buf,
                        a_direct, b_direct);
      }
    }
  }
}

// gemm_blocked's loops with a team (gemm::Team, common/team.hpp): per (ic, pc) block two
// phases of items. First the A block is packed into the one shared buffer, a few micro-panels
// per item; then the columns of C, team.unit per item, each packing that part of B into the
// member's own buffer and running the micro-kernels over every row of the block. Packing a
// block waits for the products with the one before (they read the buffer), a product for the
// packing of its block. Every tile of C is computed with the same k blocks and micro-kernel as
// by gemm_blocked, so the result has the same bits; no part of A or B is packed twice.
template <class Cfg>
void gemm_team(const Args<typename Cfg::T>& g, const gemm::Team<typename Cfg::T>& team,
               int member) {
  using T = typename Cfg::T;
  constexpr index_t MR = Cfg::MR;
  const Plan& plan = team.plan;
  TeamSync& sync = *team.sync;
  const bool a_direct = plan.a_in_place && g.csa == 1;
  const bool b_direct = plan.b_in_place && g.csb == 1;
  T* pack_b_buf = team.pack_b + member * team.b_stride;
  const index_t units = (g.n + team.unit - 1) / team.unit;
  index_t item = sync.claim();
  index_t phase = 0;  // the first item of the current phase
  for (index_t ic = 0; ic < g.m; ic += plan.mc) {
    const index_t mc = imin(plan.mc, g.m - ic);
    for (index_t pc = 0; pc < g.k; pc += plan.kc) {
      const index_t kc = imin(plan.kc, g.k - pc);
      if (!a_direct) {
        // About four items per member: small enough to even out a member that starts late.
        const index_t panels = (mc + MR - 1) / MR;
        const index_t per_item = imin(8, (panels + 4 * team.size - 1) / (4 * team.size));
        const index_t end = phase + (panels + per_item - 1) / per_item;
        const T* ablock = g.a + ic * g.rsa + pc * g.csa;
        for (; item < end; item = sync.claim()) {
          if (!sync.wait_finished(phase)) return;
          const index_t i0 = (item - phase) * per_item * MR;
          const index_t rows = imin(per_item * MR, mc - i0);
          pack_a<Cfg>(rows, kc, ablock + i0 * g.rsa, g.rsa, g.csa, team.pack_a + i0 * kc, true);
          sync.finished();
        }
        phase = end;
      }
      const index_t end = phase + units;
      for (; item < end; item = sync.claim()) {
        if (!sync.wait_finished(phase)) return;
        // Between cache blocks (not before the first: small products never read the clock).
        if (member == 0 && item != 0 && cancelled()) {
          sync.stop();
          return;
        }
        const index_t jc = (item - phase) * team.unit;
        gemm_block<Cfg>(g, ic, mc, pc, kc, jc, imin(team.unit, g.n - jc), team.pack_a, pack_b_buf,
                        a_direct, b_direct);
        sync.finished();
      }
      phase = end;
    }
  }
}

// out[0:nb] = x B[:, 0:nb] for B with unit column stride: U vectors of columns held in
// registers while walking down k.
template <class S, int U>
void gemv_rows_block(index_t k, const typename S::T* x, index_t incx, const typename S::T* b,
                     index_t rsb, typename S::T* out) {
  using V = typename S::V;
  V acc[U];
#pragma GCC unroll 8
  for (int u = 0; u < U; ++u) acc[u] = S::zero();
  for (index_t p = 0; p < k; ++p) {
    const V xv = S::set1(x[p * incx]);
    const typename S::T* row = b + p * rsb;
#pragma GCC unroll 8
    for (int u = 0; u < U; ++u) acc[u] = S::fmadd(xv, S::load(row + u * S::VL), acc[u]);
  }
#pragma GCC unroll 8
  for (int u = 0; u < U; ++u) S::store(out + u * S::VL, acc[u]);
}

template <class S>
void gemv_rows(index_t k, index_t nb, const typename S::T* x, index_t incx, const typename S::T* b,
               index_t rsb, typename S::T* out) {
  using V = typename S::V;
  constexpr index_t VL = S::VL;
  index_t j = 0;
  for (; j + 8 * VL <= nb; j += 8 * VL) gemv_rows_block<S, 8>(k, x, incx, b + j, rsb, out + j);
  if (j + 4 * VL <= nb) {
    gemv_rows_block<S, 4>(k, x, incx, b + j, rsb, out + j);
    j += 4 * VL;
  }
  for (; j + VL <= nb; j += VL) gemv_rows_block<S, 1>(k, x, incx, b + j, rsb, out + j);
  if (j < nb) {
    const index_t w = nb - j;
    V acc = S::zero();
    for (index_t p = 0; p < k; ++p)
      acc = S::fmadd(S::set1(x[p * incx]), S::load_partial(b + p * rsb + j, w), acc);
    S::store_partial(out + j, acc, w);
  }
}

// out[j] = dot(x, column j of B) for B with unit row stride (columns contiguous), x
// contiguous: four columns at a time, two vectors deep.
template <class S>
void gemv_dots(index_t k, index_t nb, const typename S::T* x, const typename S::T* b, index_t csb,
               typename S::T* out) {
  using V = typename S::V;
  constexpr index_t VL = S::VL;
  index_t j = 0;
  for (; j + 4 <= nb; j += 4) {
    const typename S::T* col[4] = {b + j * csb, b + (j + 1) * csb, b + (j + 2) * csb,
                                   b + (j + 3) * csb};
    V acc[4][2];
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) acc[u][0] = acc[u][1] = S::zero();
    index_t p = 0;
    for (; p + 2 * VL <= k; p += 2 * VL) {
      const V x0 = S::load(x + p), x1 = S::load(x + p + VL);
#pragma GCC unroll 4
      for (int u = 0; u < 4; ++u) {
        acc[u][0] = S::fmadd(S::load(col[u] + p), x0, acc[u][0]);
        acc[u][1] = S::fmadd(S::load(col[u] + p + VL), x1, acc[u][1]);
      }
    }
    for (; p + VL <= k; p += VL) {
      const V x0 = S::load(x + p);
#pragma GCC unroll 4
      for (int u = 0; u < 4; ++u) acc[u][0] = S::fmadd(S::load(col[u] + p), x0, acc[u][0]);
    }
    if (p < k) {
      const V x0 = S::load_partial(x + p, k - p);
#pragma GCC unroll 4
      for (int u = 0; u < 4; ++u)
        acc[u][1] = S::fmadd(S::load_partial(col[u] + p, k - p), x0, acc[u][1]);
    }
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) out[j + u] = S::reduce_add(S::add(acc[u][0], acc[u][1]));
  }
  for (; j < nb; ++j) {
    const typename S::T* cj = b + j * csb;
    V acc = S::zero();
    index_t p = 0;
    for (; p + VL <= k; p += VL) acc = S::fmadd(S::load(cj + p), S::load(x + p), acc);
    if (p < k) acc = S::fmadd(S::load_partial(cj + p, k - p), S::load_partial(x + p, k - p), acc);
    out[j] = S::reduce_add(acc);
  }
}

// m == 1: C[0, :] = act(alpha x B + beta C[0, :] + bias), x = A[0, :]; n processed in chunks
// finished (bias, activation) in a local buffer and then stored with C's column stride.
template <class Cfg>
void gemv(const Args<typename Cfg::T>& g, typename Cfg::T* work) {
  using T = typename Cfg::T;
  using S = typename Cfg::S;
  constexpr index_t chunk = 512;
  alignas(64) T out[chunk];
  const T* x = g.a;
  index_t incx = g.csa;
  const bool rows_form = g.csb == 1;
  const bool dots_form = !rows_form && g.rsb == 1;
  if (dots_form && incx != 1) {
    for (index_t p = 0; p < g.k; ++p) work[p] = x[p * incx];
    x = work;
    incx = 1;
  }
  const T bm = g.bias_m ? g.bias_m[0] : T(0);
  for (index_t j0 = 0; j0 < g.n; j0 += chunk) {
    const index_t nb = imin(chunk, g.n - j0);
    if (rows_form) {
      gemv_rows<S>(g.k, nb, x, incx, g.b + j0, g.rsb, out);
    } else if (dots_form) {
      gemv_dots<S>(g.k, nb, x, g.b + j0 * g.csb, g.csb, out);
    } else {
      for (index_t j = 0; j < nb; ++j) {
        const T* bj = g.b + (j0 + j) * g.csb;
        T s = 0;
        for (index_t p = 0; p < g.k; ++p) s += x[p * incx] * bj[p * g.rsb];
        out[j] = s;
      }
    }
    T* y = g.c + j0 * g.csc;
    for (index_t j = 0; j < nb; ++j) {
      T v = g.alpha * out[j];
      if (g.beta != 0) v += g.beta * y[j * g.csc];
      if (g.bias_n) v += g.bias_n[j0 + j];
      out[j] = v + bm;
    }
    activation_inplace<S>(out, nb, g.act, g.slope);
    for (index_t j = 0; j < nb; ++j) y[j * g.csc] = out[j];
  }
}

template <class Cfg>
void apply_activation(typename Cfg::T* x, index_t n, Activation act, typename Cfg::T slope) {
  activation_inplace<typename Cfg::S>(x, n, act, slope);
}

// The peak probe: gemm::kProbeChains independent chains x = x * a + b of full vectors (a just
// below 1, so nothing overflows or goes subnormal), the best case of the micro-kernel's
// inner loop with no loads.
template <class Cfg>
double fma_probe(index_t rounds, typename Cfg::T* sink) {
  using S = typename Cfg::S;
  using T = typename Cfg::T;
  using V = typename S::V;
  V x[gemm::kProbeChains];
#pragma GCC unroll 16
  for (int i = 0; i < gemm::kProbeChains; ++i) x[i] = S::set1(T(1) + T(i) / T(64));
  const V a = S::set1(T(0.999)), b = S::set1(T(0.001));
  for (index_t r = 0; r < rounds; ++r) {
#pragma GCC unroll 16
    for (int i = 0; i < gemm::kProbeChains; ++i) x[i] = S::fmadd(x[i], a, b);
  }
  V total = x[0];
#pragma GCC unroll 16
  for (int i = 1; i < gemm::kProbeChains; ++i) total = S::add(total, x[i]);
  T lanes[64];
  S::store(lanes, total);
  *sink = lanes[0];
  return 2.0 * static_cast<double>(rounds) * gemm::kProbeChains * S::VL;
}

template <class Cfg>
constexpr gemm::Kernels<typename Cfg::T> make_kernels() {
  return {Cfg::blocking, &gemm_blocked<Cfg>,     &gemm_team<Cfg>,
          &gemv<Cfg>,    &apply_activation<Cfg>, &fma_probe<Cfg>};
}

// The table of this ISA for its float and double blocking rows.
template <const Blocking& F32, const Blocking& F64>
inline constexpr gemm::Table gemm_table{kIsa, make_kernels<GemmConfig<Simd<float>, F32>>(),
                                        make_kernels<GemmConfig<Simd<double>, F64>>()};

}  // namespace revcore::detail::REVCORE_ISA
