// Private interface between the GEMM front end (gemm.cpp: argument normalisation, dispatch,
// threads) and the per-ISA translation units (gemm_generic.cpp, gemm_avx2.cpp,
// gemm_avx512.cpp), each compiled with its own instruction-set flags.
#pragma once

#include "common/common.hpp"

namespace revcore::detail {

// One normalised product: C = act(alpha A B + beta C + bias), where bias_n[j] is added to
// column j (the dense layer) or bias_m[i] to row i (the same layer after the front end
// transposed the problem). At most one bias is set; act is identity for plain gemm.
template <typename T>
struct GemmArgs {
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

// Register block (mr x nr) and cache blocks. Loop order and the cache level each block is
// sized for are described above the macro-kernel in gemm_driver.hpp.
struct GemmBlocking {
  index_t mr, nr, kc, mc, nc;
};

// Operands the blocked product reads where they are instead of packing them: A when its
// column stride is 1, B when its column stride is 1 (otherwise ignored).
struct GemmPlan {
  bool a_in_place;
  bool b_in_place;
};

template <typename T>
struct GemmIsaOps {
  GemmBlocking blocking;
  // Single-threaded blocked product; m, n, k >= 1. pack_a holds mc*kc and pack_b kc*nc
  // elements (64-byte aligned).
  void (*gemm_blocked)(const GemmArgs<T>& g, T* pack_a, T* pack_b, GemmPlan plan);
  // m == 1, k >= 1. work holds k elements (a contiguous copy of A's row when csa != 1).
  void (*gemv)(const GemmArgs<T>& g, T* work);
  // x[i] = act(x[i]) for a contiguous x.
  void (*activation)(T* x, index_t n, Activation act, T slope);
};

struct GemmIsa {
  const char* name;
  GemmIsaOps<float> f32;
  GemmIsaOps<double> f64;
};

// nullptr when the path is not compiled in (non-x86 builds).
const GemmIsa* gemm_isa_generic();
const GemmIsa* gemm_isa_avx2();
const GemmIsa* gemm_isa_avx512();

}  // namespace revcore::detail
