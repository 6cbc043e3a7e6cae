#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bindings.hpp"
#include "optim/optim.hpp"

namespace revcore::bind {

namespace {

template <typename T>
struct AdamJob {
  index_t n;
  T *p, *m, *v;
  const T* g;
};

struct Bytes {
  const char* begin;
  const char* end;
};

Bytes bytes_of(const py::array& a) {
  const char* begin = static_cast<const char*>(a.data());
  return {begin, begin + a.nbytes()};
}

bool overlap(const Bytes& a, const Bytes& b) { return a.begin < b.end && b.begin < a.end; }

template <typename T>
AdamJob<T> adam_job(std::size_t i, const py::array& p, const py::array& g, const py::array& m,
                    const py::array& v) {
  const std::string at = " of parameter " + std::to_string(i);
  const py::array* all[] = {&p, &g, &m, &v};
  const char* names[] = {"the parameter", "the gradient", "the first moment", "the second moment"};
  for (int k = 0; k < 4; ++k) {
    if (!has_dtype<T>(*all[k]))
      throw py::type_error("adam_step: " + std::string(names[k]) + at + " has dtype " +
                           std::string(py::str(all[k]->dtype())) + ", expected " +
                           std::string(py::str(p.dtype())) + " as the parameter");
    if (all[k]->size() != p.size())
      throw py::value_error("adam_step: " + std::string(names[k]) + at + " has " +
                            std::to_string(all[k]->size()) + " elements, expected " +
                            std::to_string(p.size()));
    if (k != 1 && !all[k]->writeable())
      throw py::value_error("adam_step: " + std::string(names[k]) + at + " is read-only");
  }
  // p, m and v are written while g is read: none may share memory with another.
  for (int a = 0; a < 4; ++a)
    for (int b = a + 1; b < 4; ++b)
      if (p.size() > 0 && overlap(bytes_of(*all[a]), bytes_of(*all[b])))
        throw py::value_error("adam_step: " + std::string(names[a]) + " and " +
                              std::string(names[b]) + at + " share memory");
  return {static_cast<index_t>(p.size()), flat<T>(p, "adam_step: parameter"),
          flat<T>(m, "adam_step: first moment"), flat<T>(v, "adam_step: second moment"),
          flat<T>(g, "adam_step: gradient")};
}

template <typename T>
AdamScalars<T> scalars_of(double beta1, double beta2, double step_size, double correction2,
                          double eps) {
  return {static_cast<T>(beta1),       static_cast<T>(1.0 - beta1), static_cast<T>(beta2),
          static_cast<T>(1.0 - beta2), static_cast<T>(step_size),   static_cast<T>(correction2),
          static_cast<T>(eps)};
}

// One Adam step over lists of C-contiguous float32/float64 arrays (each parameter with its
// gradient and moments of its dtype and size), updated in place; see adam_step.
void adam(const py::list& params, const py::list& grads, const py::list& ms, const py::list& vs,
          double beta1, double beta2, double step_size, double correction2, double eps) {
  const std::size_t count = params.size();
  if (grads.size() != count || ms.size() != count || vs.size() != count)
    throw py::value_error("adam_step: expected as many gradients and moments as parameters (" +
                          std::to_string(count) + ")");
  std::vector<AdamJob<float>> singles;
  std::vector<AdamJob<double>> doubles;
  for (std::size_t i = 0; i < count; ++i) {
    const auto p = params[i].cast<py::array>();
    const auto g = grads[i].cast<py::array>();
    const auto m = ms[i].cast<py::array>();
    const auto v = vs[i].cast<py::array>();
    dispatch(p, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_same_v<T, float>)
        singles.push_back(adam_job<float>(i, p, g, m, v));
      else
        doubles.push_back(adam_job<double>(i, p, g, m, v));
    });
  }
  const auto s32 = scalars_of<float>(beta1, beta2, step_size, correction2, eps);
  const auto s64 = scalars_of<double>(beta1, beta2, step_size, correction2, eps);
  py::gil_scoped_release release;
  for (const auto& j : singles) adam_step<float>(j.n, j.p, j.g, j.m, j.v, s32);
  for (const auto& j : doubles) adam_step<double>(j.n, j.p, j.g, j.m, j.v, s64);
}

}  // namespace

void register_optim(py::module_& m) { m.def("adam_step", &adam); }

}  // namespace revcore::bind
