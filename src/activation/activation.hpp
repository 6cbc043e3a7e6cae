// Element-wise activations: forward, inverse and derivative.
#pragma once

#include "common/common.hpp"

namespace revcore {

// y = f(x) for n contiguous elements; y may alias x.
template <typename T>
void activation_forward(index_t n, const T* x, T* y, Activation act, T negative_slope) noexcept;

// x = f^-1(y) for the elements of y inside the open range of f (finite values only).
// Returns how many elements lie outside that range and stores the index of the first in
// *first_bad (-1 if none). Out-of-range elements leave unspecified values in x. x may alias y.
// relu has no inverse: every element counts as out of range.
template <typename T>
index_t activation_inverse(index_t n, const T* y, T* x, Activation act, T negative_slope,
                           index_t* first_bad) noexcept;

// d = f'(z) for pre-activations z; d may alias z.
template <typename T>
void activation_derivative(index_t n, const T* z, T* d, Activation act, T negative_slope) noexcept;

// The backward gate of a dense layer, in one pass over a rows x cols row-major block:
// gz = g * f'(z) (gz may alias g or z) and grad_b[j] += sum over rows of gz[., j].
template <typename T>
void activation_gate(index_t rows, index_t cols, const T* z, const T* g, T* gz, T* grad_b,
                     Activation act, T negative_slope) noexcept;

// The forward pass of a rows x cols row-major block of pre-activations with its log-Jacobian:
// y = f(z) (y may alias z) and log_det[r] += sum_j log|f'(z[r, j])|, in closed forms that stay
// finite for large |z| (f must be a bijection: identity, leaky_relu, tanh, sigmoid).
template <typename T>
void activation_forward_log_det(index_t rows, index_t cols, const T* z, T* y, T* log_det,
                                Activation act, T negative_slope) noexcept;

}  // namespace revcore
