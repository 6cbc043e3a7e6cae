#include <pybind11/stl.h>

#include <algorithm>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "interruptible.hpp"
#include "network/network.hpp"

namespace revcore::bind {

namespace {

// Layers as the kernels see them. The Python side passes C-contiguous arrays of one dtype and
// keeps them alive for the duration of the call.
template <typename T>
std::vector<DenseLayer<T>> layers_of(const py::list& weights, const py::list& biases,
                                     const std::vector<int>& acts,
                                     const std::vector<double>& slopes, const py::list* lus,
                                     const py::list* pivs) {
  const std::size_t depth = weights.size();
  if (biases.size() != depth || acts.size() != depth || slopes.size() != depth ||
      (lus && (lus->size() != depth || pivs->size() != depth)))
    throw py::value_error("network: per-layer lists differ in length");
  std::vector<DenseLayer<T>> layers(depth);
  for (std::size_t l = 0; l < depth; ++l) {
    DenseLayer<T>& L = layers[l];
    const auto w = weights[l].cast<py::array>();
    if (w.ndim() != 2) throw py::value_error("network: weights must be 2-D");
    L.weight = flat<T>(w, "weight");
    L.n_out = w.shape(0);
    L.n_in = w.shape(1);
    if (l > 0 && L.n_in != layers[l - 1].n_out)
      throw py::value_error("network: consecutive layer shapes do not chain");
    if (!biases[l].is_none()) {
      const auto b = biases[l].cast<py::array>();
      if (b.ndim() != 1 || b.shape(0) != L.n_out)
        throw py::value_error("network: bias shape does not match its weight");
      L.bias = flat<T>(b, "bias");
    }
    L.act = activation_from_int(acts[l]);
    L.negative_slope = static_cast<T>(slopes[l]);
    if (lus) {
      const auto lu = (*lus)[l].cast<py::array>();
      const auto piv = (*pivs)[l].cast<py::array>();
      if (L.n_out != L.n_in || lu.ndim() != 2 || lu.shape(0) != L.n_out || lu.shape(1) != L.n_out ||
          piv.ndim() != 1 || piv.shape(0) != L.n_out)
        throw py::value_error("network: inverse needs square layers with matching factors");
      L.lu = flat<T>(lu, "lu");
      L.piv = flat<std::int32_t>(piv, "piv");
    }
  }
  return layers;
}

// Multiply-adds per row of a pass through the layers (sets the interruptible block size).
template <typename T>
double row_flops(const std::vector<DenseLayer<T>>& layers) {
  return network_row_flops(layers.data(), static_cast<index_t>(layers.size()));
}

py::array forward(const py::list& weights, const py::list& biases, const std::vector<int>& acts,
                  const std::vector<double>& slopes, const py::array& x) {
  return dispatch(x, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const auto layers = layers_of<T>(weights, biases, acts, slopes, nullptr, nullptr);
    if (layers.empty()) throw py::value_error("network: no layers");
    const T* in = flat<T>(x, "x");
    if (x.ndim() != 2 || x.shape(1) != layers.front().n_in)
      throw py::value_error("network: x must have shape (batch, n_in)");
    py::array_t<T> y({x.shape(0), static_cast<py::ssize_t>(layers.back().n_out)});
    T* out = y.mutable_data();
    // One call: network_forward takes the rows in blocks of its own and sees a cancellation.
    run_interruptible([&] {
      network_forward<T>(layers.data(), static_cast<index_t>(layers.size()), x.shape(0), in, out);
    });
    return std::move(y);
  });
}

// Returns (y, log_det): the forward pass and, per row, log|det J| (see network_forward).
// log_abs_dets holds each layer's log|det W|, which the caller keeps with its LU factors.
py::tuple forward_log_det(const py::list& weights, const py::list& biases,
                          const std::vector<int>& acts, const std::vector<double>& slopes,
                          const std::vector<double>& log_abs_dets, const py::array& x) {
  return dispatch(x, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    auto layers = layers_of<T>(weights, biases, acts, slopes, nullptr, nullptr);
    if (layers.empty()) throw py::value_error("network: no layers");
    if (log_abs_dets.size() != layers.size())
      throw py::value_error("network: expected one log|det W| per layer, got " +
                            std::to_string(log_abs_dets.size()) + " for " +
                            std::to_string(layers.size()) + " layers");
    for (std::size_t l = 0; l < layers.size(); ++l) {
      DenseLayer<T>& L = layers[l];
      if (L.n_out != L.n_in)
        throw py::value_error("network: the Jacobian determinant needs square layers; layer " +
                              std::to_string(l) + " is " + std::to_string(L.n_out) + "x" +
                              std::to_string(L.n_in));
      if (L.act == Activation::relu)
        throw py::value_error(
            "network: the Jacobian determinant needs bijective activations; "
            "layer " +
            std::to_string(l) + " is relu");
      L.log_abs_det = static_cast<T>(log_abs_dets[l]);
    }
    const T* in = flat<T>(x, "x");
    const index_t n = layers.front().n_in;
    if (x.ndim() != 2 || x.shape(1) != n)
      throw py::value_error("network: x must have shape (batch, " + std::to_string(n) + ")");
    const index_t batch = x.shape(0);
    py::array_t<T> y({static_cast<py::ssize_t>(batch), static_cast<py::ssize_t>(n)});
    py::array_t<T> log_det(static_cast<py::ssize_t>(batch));
    T* out = y.mutable_data();
    T* det = log_det.mutable_data();
    run_interruptible([&] {
      for_blocks(batch, row_flops(layers), [&](index_t r0, index_t r1) {
        network_forward<T>(layers.data(), static_cast<index_t>(layers.size()), r1 - r0, in + r0 * n,
                           out + r0 * n, det + r0);
      });
    });
    return py::make_tuple(std::move(y), std::move(log_det));
  });
}

// Returns (x, failure, layer, count, first); see InverseStatus.
py::tuple inverse(const py::list& weights, const py::list& biases, const std::vector<int>& acts,
                  const std::vector<double>& slopes, const py::list& lus, const py::list& pivs,
                  const py::array& y) {
  return dispatch(y, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const auto layers = layers_of<T>(weights, biases, acts, slopes, &lus, &pivs);
    if (layers.empty()) throw py::value_error("network: no layers");
    const T* in = flat<T>(y, "y");
    if (y.ndim() != 2 || y.shape(1) != layers.back().n_out)
      throw py::value_error("network: y must have shape (batch, n_out)");
    py::array_t<T> x({y.shape(0), y.shape(1)});
    T* out = x.mutable_data();
    InverseStatus status;
    run_interruptible([&] {
      status = network_inverse_blocked<T>(layers.data(), static_cast<index_t>(layers.size()),
                                          y.shape(0), in, out);
    });
    return py::make_tuple(std::move(x), static_cast<int>(status.failure), status.layer,
                          status.count, status.first);
  });
}

// Returns (grad_x or None, grad_weight, grad_bias) of a dense layer; see dense_backward.
py::tuple backward(const py::array& x, const py::array& w, const py::array& z, const py::array& g,
                   int act, double slope, bool need_grad_x) {
  return dispatch(x, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T* xd = flat<T>(x, "x");
    const T* wd = flat<T>(w, "weight");
    const T* zd = flat<T>(z, "preactivation");
    const T* gd = flat<T>(g, "grad_output");
    if (x.ndim() != 2 || w.ndim() != 2 || z.ndim() != 2 || g.ndim() != 2)
      throw py::value_error("dense_backward: expected 2-D arrays");
    const index_t batch = x.shape(0), n_in = x.shape(1), n_out = w.shape(0);
    if (w.shape(1) != n_in || z.shape(0) != batch || z.shape(1) != n_out || g.shape(0) != batch ||
        g.shape(1) != n_out)
      throw py::value_error("dense_backward: shapes disagree");
    const Activation a = activation_from_int(act);
    py::array_t<T> grad_w({n_out, n_in});
    py::array_t<T> grad_b(n_out);
    py::object grad_x = py::none();
    T* gx = nullptr;
    if (need_grad_x) {
      py::array_t<T> array({batch, n_in});
      gx = array.mutable_data();
      grad_x = std::move(array);
    }
    T* gw = grad_w.mutable_data();
    T* gb = grad_b.mutable_data();
    {
      py::gil_scoped_release release;
      dense_backward<T>(batch, n_out, n_in, xd, wd, zd, gd, a, static_cast<T>(slope), gx, gw, gb);
    }
    return py::make_tuple(grad_x, std::move(grad_w), std::move(grad_b));
  });
}

}  // namespace

void register_network(py::module_& m) {
  m.def("dense_backward", &backward);
  m.def("network_forward", &forward);
  m.def("network_forward_log_det", &forward_log_det);
  m.def("network_inverse", &inverse);
}

}  // namespace revcore::bind
