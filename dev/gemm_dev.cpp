// Development-only bindings for the GEMM kernels (not part of the package): numpy arrays of
// any strides go straight to the kernels.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "gemm.hpp"

namespace py = pybind11;
using revcore::index_t;

namespace {

struct View {
  index_t rows, cols, rs, cs;
};

View view_of(const py::array& x, const char* name) {
  if (x.ndim() != 2) throw std::invalid_argument(std::string(name) + " must be 2-D");
  const auto item = static_cast<index_t>(x.itemsize());
  if (x.strides(0) % item != 0 || x.strides(1) % item != 0)
    throw std::invalid_argument(std::string(name) + " strides must be whole elements");
  return View{x.shape(0), x.shape(1), x.strides(0) / item, x.strides(1) / item};
}

template <typename T>
void gemm_t(double alpha, const py::array& a, const py::array& b, double beta, py::array& c) {
  const View va = view_of(a, "a"), vb = view_of(b, "b"), vc = view_of(c, "c");
  if (va.cols != vb.rows || vc.rows != va.rows || vc.cols != vb.cols)
    throw std::invalid_argument("shape mismatch");
  const T* pa = static_cast<const T*>(a.data());
  const T* pb = static_cast<const T*>(b.data());
  T* pc = static_cast<T*>(c.mutable_data());
  py::gil_scoped_release release;
  revcore::gemm<T>(va.rows, vb.cols, va.cols, static_cast<T>(alpha), pa, va.rs, va.cs, pb, vb.rs,
                   vb.cs, static_cast<T>(beta), pc, vc.rs, vc.cs);
}

template <typename T>
void gemm_bias_act_t(const py::array& a, const py::array& b, py::array& c, const py::object& bias,
                     int act, double slope) {
  const View va = view_of(a, "a"), vb = view_of(b, "b"), vc = view_of(c, "c");
  if (va.cols != vb.rows || vc.rows != va.rows || vc.cols != vb.cols)
    throw std::invalid_argument("shape mismatch");
  const T* pbias = nullptr;
  py::array bias_arr;
  if (!bias.is_none()) {
    bias_arr = py::array_t<T, py::array::c_style>::ensure(bias);
    if (!bias_arr || bias_arr.ndim() != 1 || bias_arr.shape(0) != vb.cols)
      throw std::invalid_argument("bias must be 1-D of length n");
    pbias = static_cast<const T*>(bias_arr.data());
  }
  const T* pa = static_cast<const T*>(a.data());
  const T* pb = static_cast<const T*>(b.data());
  T* pc = static_cast<T*>(c.mutable_data());
  py::gil_scoped_release release;
  revcore::gemm_bias_act<T>(va.rows, vb.cols, va.cols, pa, va.rs, va.cs, pb, vb.rs, vb.cs, pc,
                            vc.rs, vc.cs, pbias, static_cast<revcore::Activation>(act),
                            static_cast<T>(slope));
}

bool is_dtype(const py::array& x, char kind_size) {
  return x.dtype().kind() == 'f' && x.itemsize() == (kind_size == 'f' ? 4 : 8);
}

}  // namespace

PYBIND11_MODULE(_gemm_dev, m) {
  m.def(
      "gemm",
      [](double alpha, const py::array& a, const py::array& b, double beta, py::array& c) {
        if (is_dtype(a, 'f') && is_dtype(b, 'f') && is_dtype(c, 'f')) {
          gemm_t<float>(alpha, a, b, beta, c);
        } else if (is_dtype(a, 'd') && is_dtype(b, 'd') && is_dtype(c, 'd')) {
          gemm_t<double>(alpha, a, b, beta, c);
        } else {
          throw std::invalid_argument("a, b, c must all be float32 or all float64");
        }
      },
      py::arg("alpha"), py::arg("a"), py::arg("b"), py::arg("beta"), py::arg("c"));
  m.def(
      "gemm_bias_act",
      [](const py::array& a, const py::array& b, py::array& c, const py::object& bias, int act,
         double slope) {
        if (is_dtype(a, 'f') && is_dtype(b, 'f') && is_dtype(c, 'f')) {
          gemm_bias_act_t<float>(a, b, c, bias, act, slope);
        } else if (is_dtype(a, 'd') && is_dtype(b, 'd') && is_dtype(c, 'd')) {
          gemm_bias_act_t<double>(a, b, c, bias, act, slope);
        } else {
          throw std::invalid_argument("a, b, c must all be float32 or all float64");
        }
      },
      py::arg("a"), py::arg("b"), py::arg("c"), py::arg("bias"), py::arg("act"),
      py::arg("slope") = 0.01);
  m.def("set_num_threads", &revcore::set_num_threads);
  m.def("get_num_threads", &revcore::get_num_threads);
  m.def("kernel_name", &revcore::gemm_kernel_name);
  m.def("set_arch", [](const std::string& name) { revcore::set_gemm_arch(name.c_str()); });
}
