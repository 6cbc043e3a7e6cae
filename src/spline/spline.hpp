// Monotone rational-quadratic splines (Durkan et al., 2019), element-wise with identity tails:
// forward, inverse and backward over an n x d row-major block.
//
// Knots: three arrays (x, y, derivatives) of `bins + 1` values per knot set, row-major; one set
// per dimension shared by every row (per_row false: d sets) or one per element (per_row true:
// n * d sets). The sets must be finite, x and y strictly increasing, derivatives positive; a
// call that meets an invalid set returns SplineStatus::bad_knots (outputs unspecified).
#pragma once

#include "common/common.hpp"

namespace revcore {

// out_of_memory: a scratch copy of the knots could not be allocated.
enum class SplineStatus : int { ok = 0, bad_knots = 1, cancelled = 2, out_of_memory = 3 };

// out = spline(v) (x -> y; y -> x when inverse) and log_derivative = log dy/dx of the forward
// map at x, for the n * d contiguous values of v. NaN gives NaN in both outputs; values
// outside the knots' range (infinities too) pass through with log-derivative 0.
template <typename T>
SplineStatus rq_spline(index_t n, index_t d, index_t bins, const T* v, const T* x_knots,
                       const T* y_knots, const T* derivatives, bool per_row, bool inverse, T* out,
                       T* log_derivative) noexcept;

// Gradients of L through the forward map given grad_out = dL/dy and grad_log = dL/dlog dy/dx:
// grad_x (n x d) and the knot gradients, shaped like the knots (summed over rows when shared).
// Every output is written (on success).
template <typename T>
SplineStatus rq_spline_backward(index_t n, index_t d, index_t bins, const T* x, const T* x_knots,
                                const T* y_knots, const T* derivatives, bool per_row,
                                const T* grad_out, const T* grad_log, T* grad_x, T* grad_x_knots,
                                T* grad_y_knots, T* grad_derivatives) noexcept;

}  // namespace revcore
