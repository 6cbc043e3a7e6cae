#include "activation/activation.hpp"
#include "bindings.hpp"

namespace revcore::bind {

namespace {

template <typename Kernel>
py::array elementwise(const py::array& x, int act, double slope, Kernel kernel) {
  return dispatch(x, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* in = flat<T>(x, "x");
    py::array_t<T> out(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    T* data = out.mutable_data();
    const Activation a = activation_from_int(act);
    py::gil_scoped_release release;
    kernel(static_cast<index_t>(x.size()), in, data, a, static_cast<T>(slope));
    return std::move(out);
  });
}

py::tuple inverse(const py::array& y, int act, double slope) {
  return dispatch(y, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T* in = flat<T>(y, "y");
    py::array_t<T> out(std::vector<py::ssize_t>(y.shape(), y.shape() + y.ndim()));
    T* data = out.mutable_data();
    const Activation a = activation_from_int(act);
    index_t bad = 0, first = -1;
    {
      py::gil_scoped_release release;
      bad = activation_inverse<T>(static_cast<index_t>(y.size()), in, data, a,
                                  static_cast<T>(slope), &first);
    }
    return py::make_tuple(std::move(out), bad, first);
  });
}

}  // namespace

void register_activation(py::module_& m) {
  m.def("activate", [](const py::array& x, int act, double slope) {
    return elementwise(x, act, slope,
                       [](index_t n, const auto* in, auto* out, Activation a, auto s) {
                         activation_forward(n, in, out, a, s);
                       });
  });
  m.def("activate_derivative", [](const py::array& x, int act, double slope) {
    return elementwise(x, act, slope,
                       [](index_t n, const auto* in, auto* out, Activation a, auto s) {
                         activation_derivative(n, in, out, a, s);
                       });
  });
  m.def("activate_inverse", &inverse,
        "Returns (x, number of out-of-range elements, flat index of the first or -1).");
}

}  // namespace revcore::bind
