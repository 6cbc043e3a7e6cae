// LU factorization with partial pivoting, triangular solves and a condition estimate.
// Matrices are addressed by row and column strides in elements, like the GEMM.
#pragma once

#include <cstdint>

#include "common/common.hpp"

namespace revcore {

// In-place P A = L U of an m x n matrix (L unit lower, U upper, both stored in a), with
// LAPACK getrf's pivot convention: row i was interchanged with row piv[i] (0-based,
// piv[i] >= i), for i < min(m, n). Returns 0, or k + 1 where U[k, k] is the first exact zero
// on the diagonal (the factorization still completes, as in LAPACK).
template <typename T>
index_t lu_factor(index_t m, index_t n, T* a, index_t rsa, index_t csa, std::int32_t* piv);

// Solves op(A) X = B in place for an n x nrhs matrix B, from the factors of lu_factor;
// op(A) = A when trans is false, A^T when it is true.
template <typename T>
void lu_solve(index_t n, index_t nrhs, const T* lu, index_t rsl, index_t csl,
              const std::int32_t* piv, bool trans, T* b, index_t rsb, index_t csb);

// In-place triangular solves A X = B, A n x n (lower or upper, unit diagonal or not).
template <typename T>
void trsm_lower(index_t n, index_t nrhs, bool unit, const T* a, index_t rsa, index_t csa, T* b,
                index_t rsb, index_t csb);
template <typename T>
void trsm_upper(index_t n, index_t nrhs, bool unit, const T* a, index_t rsa, index_t csa, T* b,
                index_t rsb, index_t csb);

// Estimate of the 1-norm condition number ||A||_1 ||A^-1||_1 from the factors of A and
// ||A||_1, by Hager's method with Higham's refinements (as LAPACK's gecon): O(n^2) work,
// a lower bound of the true value that is rarely more than a small factor below it.
// Returns +inf when U has an exact zero on its diagonal.
template <typename T>
T lu_condition_estimate(index_t n, const T* lu, index_t rsl, index_t csl, const std::int32_t* piv,
                        T norm1);

// Whether every element of an m x n strided matrix is finite.
template <typename T>
bool all_finite(index_t m, index_t n, const T* a, index_t rsa, index_t csa);

}  // namespace revcore
