// Private interface between the GEMM front end (gemm.cpp: argument normalisation, dispatch,
// threads) and the per-ISA translation units (generic.cpp, avx2.cpp, avx512.cpp), each
// compiled with its own instruction-set flags.
#pragma once

#include "common/common.hpp"
#include "common/dispatch.hpp"
#include "common/team.hpp"

namespace revcore::detail::gemm {

// One normalised product: C = act(alpha A B + beta C + bias), where bias_n[j] is added to
// column j (the dense layer) or bias_m[i] to row i (the same layer after the front end
// transposed the problem). At most one bias is set; act is identity for plain gemm.
template <typename T>
struct Args {
  index_t m, n, k;
  T alpha;
  const T* a;
  index_t rsa, csa;
  const T* b;
  index_t rsb, csb;
  T beta;
  T* c;
  index_t rsc, csc;
  const T* bias_n;
  const T* bias_m;
  Activation act;
  T slope;
};

// Register block (MR x NR elements of C) and default cache blocks (KC deep, MC rows of A, NC
// columns of B). Loop order and the cache level each block is sized for are described above
// gemm_blocked in impl.hpp. Each ISA file holds one row per element type; the front end
// (gemm.cpp) resizes the cache blocks at run time to the caches of the CPU. KU: k steps per
// iteration of the micro-kernel's loop: 4, or 1 (as the compiler leaves it).
struct Blocking {
  index_t MR, NR, KC, MC, NC;
  index_t KU = 1;
};

// How one blocked product runs: the cache blocks (kc deep, mc rows of A a multiple of MR, nc
// columns of B a multiple of NR) and the operands read where they are instead of packed: A
// when its column stride is 1, B when its column stride is 1 (otherwise ignored).
struct Plan {
  index_t kc, mc, nc;
  bool a_in_place;
  bool b_in_place;
};

// One blocked product shared by a team of `size` threads (gemm_team): each A block is packed
// once, by the members together, into pack_a (plan.mc * plan.kc elements plus 64 of slack), and
// the columns of C are then taken `unit` at a time (a multiple of NR, at most plan.nc); each
// packs its own part of B into the member's pack_b + member * b_stride (plan.kc * unit
// elements plus 64 of slack, b_stride a multiple of 16). plan.mc is used as given.
template <typename T>
struct Team {
  TeamSync* sync;
  int size;
  T* pack_a;
  T* pack_b;
  index_t b_stride;
  index_t unit;
  Plan plan;
};

template <typename T>
struct Kernels {
  Blocking blocking;
  // Single-threaded blocked product; m, n, k >= 1. pack_a holds plan.mc * plan.kc and pack_b
  // plan.kc * plan.nc elements (64-byte aligned), each plus 64 of slack. Returns early, C
  // unspecified, once cancelled() (common/cancel.hpp) says so.
  void (*gemm_blocked)(const Args<T>& g, T* pack_a, T* pack_b, Plan plan);
  // The same product as gemm_blocked (the same bits), run by every member of a team at once,
  // each calling it with its own index (0: the thread that may see cancelled(); once it does,
  // every member returns after the item it is on).
  void (*gemm_team)(const Args<T>& g, const Team<T>& team, int member);
  // m == 1, k >= 1. work holds k elements (a contiguous copy of A's row when csa != 1).
  void (*gemv)(const Args<T>& g, T* work);
  // x[i] = act(x[i]) for a contiguous x.
  void (*activation)(T* x, index_t n, Activation act, T slope);
  // rounds x kProbeChains independent vector FMAs (the peak probe); returns the flops done
  // (2 per lane per FMA) and stores a value derived from every chain in *sink.
  double (*fma_probe)(index_t rounds, T* sink);
};

// Independent FMA chains of the peak probe: enough to cover the FMA latency (4 cycles) times
// the FMA units (2) on every x86-64 of the last decade, few enough for 16 vector registers.
constexpr int kProbeChains = 12;

using Table = KernelTable<Kernels>;

// Null when the instruction set is not compiled in (other targets or compilers).
const Table* table_generic();
const Table* table_avx2();
const Table* table_avx512();
// The AVX2 kernels for AMD Zen 3 (k loop unrolled, 4 x 12 in double; gemm.cpp chooses them).
const Table* table_avx2_zen3();

}  // namespace revcore::detail::gemm
