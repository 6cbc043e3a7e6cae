#include "bindings.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "revcore's native kernels (private: use the revcore package)";
  revcore::bind::register_gemm(m);
  revcore::bind::register_activation(m);
  revcore::bind::register_lu(m);
  revcore::bind::register_network(m);
}
