#include "bindings.hpp"
#include "gemm/gemm.hpp"
#include "interruptible.hpp"

namespace revcore::bind {

namespace {

py::array matmul(const py::array& a, const py::array& b) {
  return dispatch(a, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const auto A = matrix<T>(a, "a");
    const auto B = matrix<T>(b, "b");
    if (A.cols != B.rows) throw py::value_error("matmul: inner dimensions differ");
    check_output_size(A.rows, B.cols, sizeof(T), "matmul");
    py::array_t<T> c({A.rows, B.cols});
    const auto C = matrix<T>(c, "out");
    // One call (gemm checks for cancellation between its cache blocks): cutting the rows
    // into blocks would pack B once per block.
    run_interruptible([&] {
      gemm<T>(A.rows, B.cols, A.cols, T(1), A.data, A.rs, A.cs, B.data, B.rs, B.cs, T(0), C.data,
              C.rs, C.cs);
    });
    return std::move(c);
  });
}

// act(x W^T + bias): W is n_out x n_in, read transposed through its strides.
py::array dense(const py::array& x, const py::array& w, const py::object& bias, int activation,
                double slope) {
  return dispatch(x, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const auto X = rows_of<T>(x, "x");  // 1-D x: one sample, and a 1-D result
    const auto W = matrix<T>(w, "weight");
    if (X.cols != W.cols) throw py::value_error("dense: x and weight disagree on n_features");
    const T* bias_data = nullptr;
    py::array bias_array;
    if (!bias.is_none()) {
      bias_array = bias.cast<py::array>();
      if (bias_array.ndim() != 1 || bias_array.shape(0) != W.rows)
        throw py::value_error("dense: bias must have shape (n_out,)");
      bias_data = flat<T>(bias_array, "bias");
    }
    check_output_size(X.rows, W.rows, sizeof(T), "dense");
    py::array_t<T> y = x.ndim() == 1 ? py::array_t<T>(W.rows) : py::array_t<T>({X.rows, W.rows});
    const auto Y = rows_of<T>(y, "out");
    const Activation a = activation_from_int(activation);
    run_interruptible([&] {  // one call, as in matmul
      gemm_bias_act<T>(X.rows, W.rows, X.cols, X.data, X.rs, X.cs, W.data, W.cs, W.rs, Y.data, Y.rs,
                       Y.cs, bias_data, a, static_cast<T>(slope));
    });
    return std::move(y);
  });
}

#ifndef REVCORE_BUILD_TYPE
#define REVCORE_BUILD_TYPE "unknown"
#endif
#ifndef REVCORE_CXX_FLAGS
#define REVCORE_CXX_FLAGS ""
#endif

double fma_peak(const std::string& dtype, double seconds, int repeats) {
  if (dtype != "float32" && dtype != "float64")
    throw py::value_error("dtype must be 'float32' or 'float64', got '" + dtype + "'");
  if (!(seconds > 0 && seconds <= 10))
    throw py::value_error("seconds must be in (0, 10], got " + std::to_string(seconds));
  if (repeats < 1 || repeats > 1000)
    throw py::value_error("repeats must be in [1, 1000], got " + std::to_string(repeats));
  py::gil_scoped_release release;
  return dtype == "float32" ? fma_peak_gflops<float>(seconds, repeats)
                            : fma_peak_gflops<double>(seconds, repeats);
}

py::dict build_info() {
  py::dict info;
  info["kernel"] = gemm_kernel_name();
#if defined(__clang__)
  info["compiler"] = "clang " __clang_version__;
#elif defined(__GNUC__)
  info["compiler"] = "gcc " __VERSION__;
#elif defined(_MSC_VER)
  info["compiler"] = "msvc " + std::to_string(_MSC_VER);
#endif
  info["build_type"] = REVCORE_BUILD_TYPE;
  info["flags"] = REVCORE_CXX_FLAGS;
  return info;
}

}  // namespace

void register_gemm(py::module_& m) {
  m.def("build_info", &build_info,
        "The kernel path chosen for this CPU (REVCORE_ARCH can force a lower one) and the "
        "build's compiler, type and flags.");
  m.def("matmul", &matmul, py::arg("a"), py::arg("b"));
  m.def("dense", &dense, py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("activation"),
        py::arg("negative_slope"));
  m.def("fma_peak", &fma_peak, py::arg("dtype"), py::arg("seconds") = 0.02, py::arg("repeats") = 5,
        "This core's peak GFLOP/s in dtype with the kernels in use: the best of `repeats` runs "
        "of about `seconds` each of independent vector FMA chains on the calling thread.");
  m.def("set_num_threads", &set_num_threads, py::arg("n"));
  m.def("get_num_threads", &get_num_threads);
}

}  // namespace revcore::bind
