// General matrix product on strided operands.
#pragma once

#include "common/common.hpp"
#include "common/thread_pool.hpp"  // set_num_threads, get_num_threads

namespace revcore {

// C = alpha * A B + beta * C, where A is m x k, B is k x n and C is m x n.
// Every operand is addressed by a row stride and a column stride in elements, so a transposed
// operand is the same memory with its strides swapped and no copy is needed. beta == 0 means C
// is write-only (NaN or garbage in C is not propagated). C must not overlap A or B. Between
// cache blocks a long product checks revcore::cancelled() (common/cancel.hpp) and returns
// early once it says so, leaving C unspecified (gemm_bias_act alike).
template <typename T>
void gemm(index_t m, index_t n, index_t k, T alpha, const T* a, index_t rsa, index_t csa,
          const T* b, index_t rsb, index_t csb, T beta, T* c, index_t rsc, index_t csc);

// The dense layer: C = act(A B + bias), bias of length n added to every row (may be null).
template <typename T>
void gemm_bias_act(index_t m, index_t n, index_t k, const T* a, index_t rsa, index_t csa,
                   const T* b, index_t rsb, index_t csb, T* c, index_t rsc, index_t csc,
                   const T* bias, Activation act, T negative_slope);

// The instruction set of the GEMM kernels in use: "avx512", "avx2" or "generic". Chosen once,
// at first use, as the best the CPU supports, or lower if the environment variable
// REVCORE_ARCH=avx512|avx2|generic asks for it (unknown values are ignored).
const char* gemm_kernel_name();

// This core's peak in GFLOP/s for T (float or double) with the kernels in use: the best of
// `repeats` runs of about `seconds` each of independent vector FMA chains, on the calling
// thread. A measurement, so it moves with the clock and with other jobs on the core.
template <typename T>
double fma_peak_gflops(double seconds, int repeats);

}  // namespace revcore
