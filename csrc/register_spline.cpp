#include <new>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "interruptible.hpp"
#include "spline/spline.hpp"

namespace revcore::bind {

namespace {

// Shape of a spline call: x (n, d) and three knot arrays of one shape, (d, K+1) or (n, d, K+1).
struct SplineShape {
  index_t n, d, bins;
  bool per_row;
};

std::string shape_text(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

SplineShape spline_shape(const py::array& x, const py::array& xk, const py::array& yk,
                         const py::array& dk) {
  if (x.ndim() != 2) throw py::value_error("x: expected shape (n, d), got " + shape_text(x));
  const index_t n = x.shape(0), d = x.shape(1);
  const bool per_row = xk.ndim() == 3;
  const bool fits = (xk.ndim() == 2 || per_row) && xk.shape(xk.ndim() - 1) >= 2 &&
                    xk.shape(xk.ndim() - 2) == d && (!per_row || xk.shape(0) == n);
  if (!fits)
    throw py::value_error("knots: expected shape (" + std::to_string(d) + ", K+1) or (" +
                          std::to_string(n) + ", " + std::to_string(d) +
                          ", K+1) with K >= 1, got " + shape_text(xk));
  for (const py::array* a : {&yk, &dk}) {
    bool same = a->ndim() == xk.ndim();
    for (py::ssize_t i = 0; same && i < a->ndim(); ++i) same = a->shape(i) == xk.shape(i);
    if (!same)
      throw py::value_error("knots: y_knots and derivatives must have the shape of x_knots " +
                            shape_text(xk) + ", got " + shape_text(*a));
  }
  return {n, d, xk.shape(xk.ndim() - 1) - 1, per_row};
}

template <typename T>
const T* same_dtype(const py::array& a, const char* name) {
  return flat<T>(a, name);  // checks the dtype, C order and alignment
}

std::vector<py::ssize_t> shape_of(const py::array& a) {
  return std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim());
}

// (out, log_derivative), or None when a knot set is invalid (the caller words the message).
py::object forward(const py::array& x, const py::array& xk, const py::array& yk,
                   const py::array& dk, bool inverse) {
  const SplineShape sh = spline_shape(x, xk, yk, dk);
  return dispatch(x, [&](auto tag) -> py::object {
    using T = decltype(tag);
    const T* v = same_dtype<T>(x, "x");
    const T* px = same_dtype<T>(xk, "x_knots");
    const T* py_ = same_dtype<T>(yk, "y_knots");
    const T* pd = same_dtype<T>(dk, "derivatives");
    py::array_t<T> out(shape_of(x)), logd(shape_of(x));
    T* o = out.mutable_data();
    T* l = logd.mutable_data();
    SplineStatus status = SplineStatus::ok;
    run_interruptible([&] {
      status = rq_spline<T>(sh.n, sh.d, sh.bins, v, px, py_, pd, sh.per_row, inverse, o, l);
    });
    if (status == SplineStatus::out_of_memory) throw std::bad_alloc();
    if (status != SplineStatus::ok) return py::none();
    return py::make_tuple(std::move(out), std::move(logd));
  });
}

py::object backward(const py::array& x, const py::array& xk, const py::array& yk,
                    const py::array& dk, const py::array& grad_out, const py::array& grad_log) {
  const SplineShape sh = spline_shape(x, xk, yk, dk);
  for (const py::array* g : {&grad_out, &grad_log}) {
    if (g->ndim() != 2 || g->shape(0) != sh.n || g->shape(1) != sh.d)
      throw py::value_error("cotangents: expected the shape of x " + shape_text(x) + ", got " +
                            shape_text(*g));
  }
  return dispatch(x, [&](auto tag) -> py::object {
    using T = decltype(tag);
    const T* v = same_dtype<T>(x, "x");
    const T* px = same_dtype<T>(xk, "x_knots");
    const T* py_ = same_dtype<T>(yk, "y_knots");
    const T* pd = same_dtype<T>(dk, "derivatives");
    const T* gy = same_dtype<T>(grad_out, "grad_out");
    const T* gl = same_dtype<T>(grad_log, "grad_log_derivative");
    py::array_t<T> gx(shape_of(x)), gxk(shape_of(xk)), gyk(shape_of(xk)), gdk(shape_of(xk));
    T* o = gx.mutable_data();
    T* ox = gxk.mutable_data();
    T* oy = gyk.mutable_data();
    T* od = gdk.mutable_data();
    SplineStatus status = SplineStatus::ok;
    run_interruptible([&] {
      status = rq_spline_backward<T>(sh.n, sh.d, sh.bins, v, px, py_, pd, sh.per_row, gy, gl, o, ox,
                                     oy, od);
    });
    if (status == SplineStatus::out_of_memory) throw std::bad_alloc();
    if (status != SplineStatus::ok) return py::none();
    return py::make_tuple(std::move(gx), std::move(gxk), std::move(gyk), std::move(gdk));
  });
}

}  // namespace

void register_spline(py::module_& m) {
  m.def("rq_spline", &forward,
        "Returns (out, log_derivative), or None when the knots are invalid.");
  m.def("rq_spline_backward", &backward,
        "Returns (grad_x, grad_x_knots, grad_y_knots, grad_derivatives), or None when the "
        "knots are invalid.");
}

}  // namespace revcore::bind
