#include "bindings.hpp"
#include "gemm/gemm.hpp"

// Plain C entry points for threadpoolctl's controller (python/revcore/_config.py), which
// finds the library by these symbols and calls them through ctypes.
extern "C" {
PYBIND11_EXPORT int revcore_get_num_threads() { return revcore::get_num_threads(); }
PYBIND11_EXPORT void revcore_set_num_threads(int n) { revcore::set_num_threads(n < 1 ? 1 : n); }
}

PYBIND11_MODULE(_core, m) {
  m.doc() = "revcore's native kernels (private: use the revcore package)";
  revcore::bind::register_gemm(m);
  revcore::bind::register_activation(m);
  revcore::bind::register_lu(m);
  revcore::bind::register_network(m);
  revcore::bind::register_spline(m);
  revcore::bind::register_optim(m);
}
