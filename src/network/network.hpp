// A stack of dense layers y = f(W x + b): forward pass and the reverse pass from LU factors.
#pragma once

#include <cstdint>

#include "common/common.hpp"

namespace revcore {

template <typename T>
struct DenseLayer {
  index_t n_out = 0;
  index_t n_in = 0;
  const T* weight = nullptr;  // n_out x n_in, row-major, contiguous
  const T* bias = nullptr;    // n_out, or null for no bias
  Activation act = Activation::identity;
  T negative_slope = T(0.01);
  const T* lu = nullptr;  // factors of a square weight from lu_factor (row-major), inverse only
  const std::int32_t* piv = nullptr;
  T log_abs_det = T(0);  // log|det W| of a square weight, for the log-determinant pass
};

// y = layer[depth-1](... layer[0](x)) for a batch of row vectors; x is batch x layers[0].n_in
// and y is batch x layers[depth-1].n_out, both row-major and contiguous.
// With log_det (batch elements, overwritten) the layers must be square with bijective
// activations, and log_det[r] receives log|det J(x_r)| = sum over layers of log_abs_det and
// sum_j log|f'(z_j)| at the row's pre-activations z.
template <typename T>
void network_forward(const DenseLayer<T>* layers, index_t depth, index_t batch, const T* x, T* y,
                     T* log_det = nullptr);

enum class InverseFailure : int { none = 0, out_of_range = 1, not_finite = 2 };

struct InverseStatus {
  InverseFailure failure = InverseFailure::none;
  index_t layer = -1;  // the layer whose target (out_of_range) or solution (not_finite) failed
  index_t count = 0;   // how many elements failed
  index_t first = -1;  // flat index of the first of them in the batch x n block
};

// x = W^-1 (f^-1(y) - b), layer after layer from the last to the first, for square layers with
// factors. Stops at the first layer whose target lies outside its activation's open range, or
// whose solution is not finite; x then holds that target (or solution) for the caller's report.
template <typename T>
InverseStatus network_inverse(const DenseLayer<T>* layers, index_t depth, index_t batch, const T* y,
                              T* x);

// network_inverse over blocks of rows (common/cancel.hpp: for_blocks, so a cancellation is
// seen between blocks), with the result of one call over the whole batch: the failure met
// first on the way down (highest layer; out of range before not finite), its count over all
// rows, and x holding every row's values at that layer.
template <typename T>
InverseStatus network_inverse_blocked(const DenseLayer<T>* layers, index_t depth, index_t batch,
                                      const T* y, T* x);

// Flops per row of a pass through the layers (a solve costs about a product).
template <typename T>
double network_row_flops(const DenseLayer<T>* layers, index_t depth);

// Gradients of a dense layer y = f(z), z = x W^T + b, given g = dL/dy (all row-major,
// contiguous; x is batch x n_in, W and grad_w n_out x n_in, z and g batch x n_out):
// grad_w = (g * f'(z))^T x, grad_b = column sums of g * f'(z), grad_x = (g * f'(z)) W.
// grad_x may be null when the caller does not need it.
template <typename T>
void dense_backward(index_t batch, index_t n_out, index_t n_in, const T* x, const T* w, const T* z,
                    const T* g, Activation act, T negative_slope, T* grad_x, T* grad_w, T* grad_b);

}  // namespace revcore
