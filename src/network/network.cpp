#include "network/network.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <vector>

#include "activation/activation.hpp"
#include "common/cancel.hpp"
#include "common/thread_pool.hpp"
#include "gemm/gemm.hpp"
#include "lu/kernels.hpp"
#include "lu/lu.hpp"

namespace revcore {

namespace {

// Bytes of one buffer of activations per block of rows of the forward pass: at most for
// blocks kept in L2, and for wider layers.
constexpr index_t kForwardL2Bytes = index_t(512) << 10;
constexpr index_t kForwardBlockBytes = index_t(8) << 20;

// Fewest rows per thread's part of the forward pass, and the least work (float32 flops;
// float64 counts double) split over threads.
constexpr index_t kForwardMinPartRows = 128;
constexpr double kForwardParallelMinFlops = 16e6;

// Rows of the forward pass without log_det, on the calling thread's products.
template <typename T>
void forward_rows(const DenseLayer<T>* layers, index_t depth, index_t batch, const T* x, T* y) {
  index_t widest = 0;
  for (index_t l = 0; l < depth; ++l) widest = std::max(widest, layers[l].n_out);
  // Rows in blocks (of equal size: no last block of a row or two; a cancellation is seen
  // between blocks, and within one by the GEMM). Narrow layers: kMinBlockItems rows, whose
  // activations stay in L2 from one layer's product to the next (measured at width 256: 6%
  // faster than blocks of 4096 rows, which pack each small weight less often). Wider ones:
  // about kForwardBlockBytes of activations per buffer, still in L3 for the next layer, and
  // each weight packed once per block (measured at width 1024: 4-5% faster than 256 rows,
  // whose packing of the weights costs more than L2 saves).
  const index_t row_bytes = std::max<index_t>(1, widest) * static_cast<index_t>(sizeof(T));
  const index_t most = kMinBlockItems * row_bytes <= kForwardL2Bytes
                           ? kMinBlockItems
                           : std::max(kMinBlockItems, kForwardBlockBytes / row_bytes);
  const index_t blocks = (batch + most - 1) / most;
  const index_t block = (batch + blocks - 1) / blocks;
  std::vector<T> ping(static_cast<std::size_t>(block * widest));
  std::vector<T> pong(ping.size());
  const index_t n_in = layers[0].n_in, n_out = layers[depth - 1].n_out;
  for (index_t r0 = 0; r0 < batch && !cancelled(); r0 += block) {
    const index_t rows = std::min(block, batch - r0);
    const T* in = x + r0 * n_in;
    for (index_t l = 0; l < depth; ++l) {
      const DenseLayer<T>& L = layers[l];
      T* out = l + 1 == depth ? y + r0 * n_out : (l % 2 ? pong.data() : ping.data());
      // B = W^T, read through swapped strides.
      gemm_bias_act<T>(rows, L.n_out, L.n_in, in, L.n_in, 1, L.weight, 1, L.n_in, out, L.n_out, 1,
                       L.bias, L.act, L.negative_slope);
      in = out;
    }
  }
}

// Rows [r0, r1) through every layer with the log-determinant: each layer's product leaves
// the pre-activations z (bias added) in the output buffer, and one pass over them, while they
// are in cache, applies f and adds sum_j log|f'(z_j)| to the rows' log_det.
template <typename T>
void forward_log_det_rows(const DenseLayer<T>* layers, index_t depth, index_t r0, index_t r1,
                          index_t chunk, const T* x, T* y, T* log_det) {
  const index_t n = layers[0].n_in;
  T constant = T(0);
  for (index_t l = 0; l < depth; ++l) constant += layers[l].log_abs_det;
  std::vector<T> ping(static_cast<std::size_t>(std::min(chunk, r1 - r0) * n));
  std::vector<T> pong(ping.size());
  for (index_t c0 = r0; c0 < r1; c0 += chunk) {
    const index_t rows = std::min(chunk, r1 - c0);
    T* acc = log_det + c0;
    std::fill(acc, acc + rows, constant);
    const T* in = x + c0 * n;
    for (index_t l = 0; l < depth; ++l) {
      const DenseLayer<T>& L = layers[l];
      T* out = l + 1 == depth ? y + c0 * n : (l % 2 ? pong.data() : ping.data());
      gemm_bias_act<T>(rows, n, n, in, n, 1, L.weight, 1, n, out, n, 1, L.bias,
                       Activation::identity, T(0));
      activation_forward_log_det<T>(rows, n, out, out, acc, L.act, L.negative_slope);
      in = out;
    }
  }
}

// body(r0, r1) over the rows [0, batch) of a forward pass: in parts split over the threads,
// each part run through every layer by one thread (its products then run on that thread): no
// synchronisation per layer, and each thread's blocks stay in its own caches. Measured on 2
// cores, depth 8, width 256, batch 256 and 4096: 1.8-2.0x one thread, against 1.6-1.8x with
// every layer's product shared by the threads (which pays for a parallel region and its
// hand-offs per layer); the weights are then packed once per part, a cost that 128 rows per
// part keep small. Parts are claimed from a counter, so a thread slowed by other jobs takes
// fewer. `flops` is the whole pass's, in float32 flops (float64 counts double).
template <typename F>
void over_row_parts(index_t batch, double flops, F&& body) {
  const int threads = get_num_threads();
  const index_t parts = std::min<index_t>(batch / kForwardMinPartRows, 2 * index_t(threads));
  if (threads > 1 && parts >= 2 && flops >= kForwardParallelMinFlops &&
      detail::claim_parts(parts, threads,
                          [&](index_t p) { body(batch * p / parts, batch * (p + 1) / parts); }))
    return;
  body(0, batch);
}

}  // namespace

template <typename T>
void network_forward(const DenseLayer<T>* layers, index_t depth, index_t batch, const T* x, T* y,
                     T* log_det) {
  if (depth == 0 || batch == 0) return;
  const double flops = network_row_flops(layers, depth) * static_cast<double>(batch) *
                       static_cast<double>(sizeof(T) / sizeof(float));
  const index_t n_in = layers[0].n_in, n_out = layers[depth - 1].n_out;
  if (log_det) {
    // Small weights are read in place by the GEMM (no packing per call), so rows can go in
    // chunks whose pre-activations stay in L2 (256 KiB) for the pass after the product. Wider
    // layers take each part whole: the product then dwarfs a second pass over memory.
    const bool small = n_in * n_in * static_cast<index_t>(sizeof(T)) <= (index_t(256) << 10);
    const index_t chunk =
        std::max<index_t>(16, (index_t(256) << 10) / (n_in * static_cast<index_t>(sizeof(T))));
    over_row_parts(batch, flops, [&](index_t r0, index_t r1) {
      forward_log_det_rows(layers, depth, r0, r1, small ? chunk : r1 - r0, x, y, log_det);
    });
    return;
  }
  over_row_parts(batch, flops, [&](index_t r0, index_t r1) {
    forward_rows(layers, depth, r1 - r0, x + r0 * n_in, y + r0 * n_out);
  });
}

namespace {

// One layer's inverse on a packed panel of `width` right-hand sides (the lane layout of
// lu/kernels.hpp: row j holds element j of every sample): x <- W^-1 (f^-1(x) - b).
// On failure returns the count and stores into *first the panel index (j * rb + lane) of the
// first bad element; `targets`, when given, receives the layer's targets before anything
// is changed (the caller reports them).
template <typename T>
InverseStatus layer_inverse_packed(const DenseLayer<T>& L, index_t layer, index_t n, index_t rb,
                                   index_t width, T* x, T* targets) {
  const auto& K = detail::lu::kernels<T>();
  const index_t size = n * rb;
  if (width < rb)  // padding lanes get a value inside every activation's range
    for (index_t j = 0; j < n; ++j) std::fill(x + j * rb + width, x + j * rb + rb, T(0.5));
  if (targets) std::copy(x, x + size, targets);
  index_t first = -1;
  const bool fused = L.act == Activation::identity ||
                     (L.act == Activation::leaky_relu && L.negative_slope <= T(1));
  if (fused) {
    // Range of identity and leaky ReLU: the finite reals. min(y, y / a) is the inverse for
    // a <= 1 (numpy's fastest form too); one pass also subtracts the bias and probes for
    // non-finite targets (y - y is NaN exactly for those).
    const bool leaky = L.act == Activation::leaky_relu;
    const T inv = T(1) / L.negative_slope;
    const bool finite = K.packed_affine_inverse(n, x, L.bias, leaky, inv);
    if (!finite) {
      std::copy(targets ? targets : x, (targets ? targets : x) + size, x);
      index_t bad = 0;
      for (index_t i = 0; i < size; ++i)
        if (!std::isfinite(x[i]) && bad++ == 0) first = i;
      return {InverseFailure::out_of_range, layer, bad, first};
    }
  } else {
    const index_t bad = activation_inverse<T>(size, x, x, L.act, L.negative_slope, &first);
    if (bad) return {InverseFailure::out_of_range, layer, bad, first};
    if (L.bias)
      for (index_t j = 0; j < n; ++j) {
        const T bj = L.bias[j];
        T* row = x + j * rb;
        for (index_t l = 0; l < rb; ++l) row[l] -= bj;
      }
  }
  // W = P^T L U: rows of the panel are interchanged as rows of the right-hand side.
  for (index_t i = 0; i < n; ++i) {
    const index_t p = L.piv[i];
    if (p != i) std::swap_ranges(x + i * rb, x + i * rb + rb, x + p * rb);
  }
  K.packed_lower(n, true, L.lu, n, 1, x);
  K.packed_upper(n, false, L.lu, n, 1, x);
  // A branch-free vector pass (x - x is NaN exactly for non-finite x), counted only if it
  // fails.
  if (K.packed_all_finite(n, x)) return {};
  index_t not_finite = 0;
  first = -1;
  for (index_t j = 0; j < n; ++j)
    for (index_t l = 0; l < width; ++l)
      if (!std::isfinite(x[j * rb + l]) && not_finite++ == 0) first = j * rb + l;
  if (not_finite) return {InverseFailure::not_finite, layer, not_finite, first};
  return {};
}

template <typename T>
InverseStatus layer_inverse_vector(const DenseLayer<T>& L, index_t layer, index_t n, T* x, T* z) {
  const auto& K = detail::lu::kernels<T>();
  index_t first = -1;
  const index_t bad = activation_inverse<T>(n, x, z, L.act, L.negative_slope, &first);
  if (bad) return {InverseFailure::out_of_range, layer, bad, first};
  if (L.bias)
    for (index_t j = 0; j < n; ++j) z[j] -= L.bias[j];
  for (index_t i = 0; i < n; ++i)
    if (L.piv[i] != i) std::swap(z[i], z[L.piv[i]]);
  K.vector_lower(n, true, L.lu, n, 1, z);
  K.vector_upper(n, false, L.lu, n, 1, z);
  index_t not_finite = 0;
  first = -1;
  for (index_t j = 0; j < n; ++j)
    if (!std::isfinite(z[j]) && not_finite++ == 0) first = j;
  if (not_finite) return {InverseFailure::not_finite, layer, not_finite, first};
  return {};
}

}  // namespace

template <typename T>
InverseStatus network_inverse(const DenseLayer<T>* layers, index_t depth, index_t batch, const T* y,
                              T* x) {
  if (depth == 0 || batch == 0) return {};
  const index_t n = layers[depth - 1].n_out;
  const index_t size = batch * n;
  if (batch <= 2) {
    std::copy(y, y + size, x);
    // Layer-major, and x is overwritten only once every sample of a layer succeeded, so a
    // failure leaves x holding that layer's targets (or its non-finite solution) throughout.
    std::vector<T> z(static_cast<std::size_t>(size));
    for (index_t l = depth - 1; l >= 0; --l) {
      for (index_t r = 0; r < batch; ++r) {
        InverseStatus s = layer_inverse_vector(layers[l], l, n, x + r * n, z.data() + r * n);
        if (s.failure == InverseFailure::not_finite)
          std::copy(z.begin() + r * n, z.begin() + (r + 1) * n, x + r * n);
        if (s.failure != InverseFailure::none) {
          s.first += r * n;
          return s;
        }
      }
      std::copy(z.begin(), z.end(), x);
    }
    return {};
  }
  // Many samples: the batch becomes panels of rb samples in the lane layout, and each panel
  // runs through every layer while it sits in cache; panels are independent, so threads
  // take disjoint ranges of them with no synchronisation.
  const index_t rb = detail::lu::kernels<T>().lanes;
  const index_t panels = (batch + rb - 1) / rb;
  auto pack = [&](index_t p, T* panel, const T* from) {
    const index_t r0 = p * rb, w = std::min(rb, batch - r0);
    for (index_t l = 0; l < w; ++l)
      for (index_t j = 0; j < n; ++j) panel[j * rb + l] = from[(r0 + l) * n + j];
    return w;
  };
  auto unpack = [&](index_t p, const T* panel) {
    const index_t r0 = p * rb, w = std::min(rb, batch - r0);
    for (index_t l = 0; l < w; ++l)
      for (index_t j = 0; j < n; ++j) x[(r0 + l) * n + j] = panel[j * rb + l];
  };
  std::atomic<bool> failed{false};
  const double work = double(n) * double(n) * double(batch) * double(depth);
  // Chunks of panels run through every layer, layer-major within the chunk so each layer's
  // factors are reused from cache. Up to width 256 the factors of a layer stay in L3 and a
  // chunk (256 KiB of panels) sits in L2 with them; wider factors are streamed from memory,
  // so then the chunk is the whole slice, which reads each factor once per layer. Panels
  // are packed straight from y and unpacked into x: one buffer per thread and chunk.
  const index_t panel_size = n * rb;
  const index_t chunk_panels =
      n <= 256 ? std::max<index_t>(1, (index_t(256) << 10) / (panel_size * index_t(sizeof(T))))
               : panels;
  detail::parallel_ranges(panels, work > 4e6, [&](index_t p0, index_t p1, index_t) {
    const index_t chunk = std::min(chunk_panels, p1 - p0);
    std::unique_ptr<T[]> buffer(new T[static_cast<std::size_t>(chunk * panel_size)]);
    for (index_t c0 = p0; c0 < p1; c0 += chunk) {
      const index_t c1 = std::min(p1, c0 + chunk);
      for (index_t p = c0; p < c1; ++p) pack(p, buffer.get() + (p - c0) * panel_size, y);
      for (index_t l = depth - 1; l >= 0; --l)
        for (index_t p = c0; p < c1; ++p) {
          const index_t w = std::min(rb, batch - p * rb);
          if (layer_inverse_packed(layers[l], l, n, rb, w, buffer.get() + (p - c0) * panel_size,
                                   static_cast<T*>(nullptr))
                  .failure != InverseFailure::none) {
            failed = true;
            return;
          }
        }
      for (index_t p = c0; p < c1; ++p) unpack(p, buffer.get() + (p - c0) * panel_size);
    }
  });
  if (!failed) return {};
  // Rare path: replay layer by layer over the whole batch to name the first failing layer
  // and leave its targets (or non-finite solutions) in x, as the contract says.
  std::vector<T> storage(static_cast<std::size_t>(panels * n * rb));
  std::vector<T> targets(storage.size());
  for (index_t p = 0; p < panels; ++p) pack(p, storage.data() + p * n * rb, y);
  for (index_t l = depth - 1; l >= 0; --l) {
    InverseStatus worst;
    for (index_t p = 0; p < panels; ++p) {
      const index_t w = std::min(rb, batch - p * rb);
      const InverseStatus s = layer_inverse_packed(
          layers[l], l, n, rb, w, storage.data() + p * n * rb, targets.data() + p * n * rb);
      if (s.failure == InverseFailure::none) continue;
      const index_t flat = (p * rb + s.first % rb) * n + s.first / rb;
      if (s.failure == InverseFailure::out_of_range &&
          worst.failure != InverseFailure::out_of_range)
        worst = {s.failure, l, 0, flat};
      else if (worst.failure == InverseFailure::none)
        worst = {s.failure, l, 0, flat};
      if (s.failure == worst.failure) {
        worst.count += s.count;
        worst.first = std::min(worst.first, flat);
      }
    }
    if (worst.failure == InverseFailure::none) continue;
    const T* source =
        worst.failure == InverseFailure::out_of_range ? targets.data() : storage.data();
    for (index_t p = 0; p < panels; ++p) unpack(p, source + p * n * rb);
    return worst;
  }
  return {};  // not reached: the parallel pass failed somewhere
}

template <typename T>
double network_row_flops(const DenseLayer<T>* layers, index_t depth) {
  double flops = 0;
  for (index_t l = 0; l < depth; ++l)
    flops += 2.0 * double(layers[l].n_out) * double(layers[l].n_in);
  return flops;
}

// The per-block calls stop at the first failing layer met on the way down, each with its own
// rows' values there; on a failure every row is re-run down to the worst block's layer, so
// that x holds every row's values at that layer.
template <typename T>
InverseStatus network_inverse_blocked(const DenseLayer<T>* layers, index_t depth, index_t batch,
                                      const T* y, T* x) {
  if (depth == 0) return {};
  const index_t n = layers[depth - 1].n_out;
  const double flops = network_row_flops(layers, depth);
  InverseStatus worst;
  // Failures in the order met on the way down: (L, out of range) before (L, not finite)
  // before (L - 1, out of range).
  auto rank = [](const InverseStatus& s) -> index_t {
    if (s.failure == InverseFailure::none) return -1;
    return 2 * s.layer + (s.failure == InverseFailure::out_of_range ? 1 : 0);
  };
  for_blocks(batch, flops, [&](index_t r0, index_t r1) {
    InverseStatus s = network_inverse<T>(layers, depth, r1 - r0, y + r0 * n, x + r0 * n);
    if (s.failure != InverseFailure::none) s.first += r0 * n;
    if (rank(s) > rank(worst))
      worst = s;
    else if (rank(s) == rank(worst) && rank(s) >= 0)
      worst.count += s.count;
  });
  if (worst.failure == InverseFailure::none || cancelled()) return worst;
  const index_t top = worst.layer + (worst.failure == InverseFailure::out_of_range ? 1 : 0);
  if (top == depth) {
    std::copy(y, y + batch * n, x);
    return worst;
  }
  for_blocks(batch, flops, [&](index_t r0, index_t r1) {
    network_inverse<T>(layers + top, depth - top, r1 - r0, y + r0 * n, x + r0 * n);
  });
  return worst;
}

template <typename T>
void dense_backward(index_t batch, index_t n_out, index_t n_in, const T* x, const T* w, const T* z,
                    const T* g, Activation act, T negative_slope, T* grad_x, T* grad_w, T* grad_b) {
  // Row blocks of gz = g * f'(z), each made in one vectorised pass (which also adds its column
  // sums to grad_b) and consumed by both products while it is in cache:
  //   grad_x[rows] = gz W, grad_w += gz^T x[rows] (gz read transposed through its strides).
  // The block buffer is kept per thread: a fresh allocation costs a page fault per 4 KiB on
  // every call, as much as the gate pass itself.
  constexpr index_t block = 512;
  const index_t rows = std::min(batch, block);
  thread_local std::vector<T> buffer;
  if (buffer.size() < static_cast<std::size_t>(rows * n_out))
    buffer.resize(static_cast<std::size_t>(rows * n_out));
  T* gz = buffer.data();
  for (index_t j = 0; j < n_out; ++j) grad_b[j] = T(0);
  index_t r0 = 0;
  do {  // at least once, so that batch == 0 still writes grad_w = 0
    const index_t rb = std::min(block, batch - r0);
    activation_gate<T>(rb, n_out, z + r0 * n_out, g + r0 * n_out, gz, grad_b, act, negative_slope);
    gemm<T>(n_out, n_in, rb, T(1), gz, 1, n_out, x + r0 * n_in, n_in, 1, r0 ? T(1) : T(0), grad_w,
            n_in, 1);
    if (grad_x && rb)
      gemm<T>(rb, n_in, n_out, T(1), gz, n_out, 1, w, n_in, 1, T(0), grad_x + r0 * n_in, n_in, 1);
    r0 += rb;
  } while (r0 < batch);
}

#define REVCORE_INSTANTIATE(T)                                                                     \
  template void network_forward<T>(const DenseLayer<T>*, index_t, index_t, const T*, T*, T*);      \
  template InverseStatus network_inverse<T>(const DenseLayer<T>*, index_t, index_t, const T*, T*); \
  template InverseStatus network_inverse_blocked<T>(const DenseLayer<T>*, index_t, index_t,        \
                                                    const T*, T*);                                 \
  template double network_row_flops<T>(const DenseLayer<T>*, index_t);                             \
  template void dense_backward<T>(index_t, index_t, index_t, const T*, const T*, const T*,         \
                                  const T*, Activation, T, T*, T*, T*);
REVCORE_INSTANTIATE(float)
REVCORE_INSTANTIATE(double)
#undef REVCORE_INSTANTIATE

}  // namespace revcore
