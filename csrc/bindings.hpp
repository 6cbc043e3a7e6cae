// Shared helpers of the pybind11 bindings: array checks and dtype dispatch. No maths here.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif
#include <utility>

#include "common/common.hpp"

namespace revcore::bind {

namespace py = pybind11;

// A 2-D array seen by the kernels: data pointer, shape and strides in elements.
template <typename T>
struct Matrix {
  T* data;
  index_t rows, cols, rs, cs;
};

template <typename T>
bool has_dtype(const py::array& a) {
  // Equivalence, not identity: an unpickled array carries its own dtype object.
  return py::isinstance<py::array_t<T>>(a);
}

// Whether the data pointer is unfit for T. numpy calls an empty array aligned whatever its
// pointer; it is never dereferenced, so it is accepted here too.
template <typename T>
bool misaligned(const py::array& a) {
  return a.size() > 0 && reinterpret_cast<std::uintptr_t>(a.data()) % alignof(T) != 0;
}

template <typename T>
Matrix<T> matrix(const py::array& a, const char* name) {
  if (!has_dtype<T>(a)) throw py::type_error(std::string(name) + ": unexpected dtype");
  if (a.ndim() != 2)
    throw py::value_error(std::string(name) + ": expected a 2-D array, got " +
                          std::to_string(a.ndim()) + "-D");
  const auto size = static_cast<py::ssize_t>(sizeof(T));
  if (a.strides(0) % size || a.strides(1) % size || misaligned<T>(a))
    throw py::value_error(std::string(name) + ": misaligned array (copy it first)");
  return {static_cast<T*>(const_cast<void*>(a.data())), a.shape(0), a.shape(1), a.strides(0) / size,
          a.strides(1) / size};
}

// A 2-D array, or a 1-D array seen as a single row.
template <typename T>
Matrix<T> rows_of(const py::array& a, const char* name) {
  if (a.ndim() != 1) return matrix<T>(a, name);
  if (!has_dtype<T>(a)) throw py::type_error(std::string(name) + ": unexpected dtype");
  const auto size = static_cast<py::ssize_t>(sizeof(T));
  if (a.strides(0) % size || misaligned<T>(a))
    throw py::value_error(std::string(name) + ": misaligned array (copy it first)");
  const index_t cs = a.strides(0) / size;
  return {static_cast<T*>(const_cast<void*>(a.data())), 1, a.shape(0), a.shape(0) * cs, cs};
}

// A C-contiguous array of any shape, seen as a flat buffer.
template <typename T>
T* flat(const py::array& a, const char* name) {
  if (!has_dtype<T>(a)) throw py::type_error(std::string(name) + ": unexpected dtype");
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + ": expected a C-contiguous array");
  if (misaligned<T>(a))
    throw py::value_error(std::string(name) + ": misaligned array (copy it first)");
  return static_cast<T*>(const_cast<void*>(a.data()));
}

// Calls f(T{}) with T the scalar type of `a` (float or double).
template <typename F>
decltype(auto) dispatch(const py::array& a, F&& f) {
  if (has_dtype<float>(a)) return f(float{});
  if (has_dtype<double>(a)) return f(double{});
  throw py::type_error("expected a float32 or float64 array, got dtype " +
                       std::string(py::str(a.dtype())));
}

inline Activation activation_from_int(int code) {
  if (code < 0 || code > static_cast<int>(Activation::sigmoid))
    throw py::value_error("unknown activation code " + std::to_string(code));
  return static_cast<Activation>(code);
}

// Refuses (ValueError), before allocating, a result of rows x cols elements that would not fit
// in physical memory: an overcommitting allocator would hand it out and the process be killed
// while filling it. The Python layer catches the refusal and raises MemoryError in its words.
inline void check_output_size(index_t rows, index_t cols, std::size_t itemsize, const char* what) {
  static const double limit = [] {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGE_SIZE)
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && page > 0) return double(pages) * double(page);
#endif
    return 1e300;
  }();
  if (double(rows) * double(cols) * double(itemsize) > limit)
    throw py::value_error(std::string(what) + ": the result would not fit in memory");
}

void register_gemm(py::module_& m);
void register_activation(py::module_& m);
void register_lu(py::module_& m);
void register_network(py::module_& m);
void register_spline(py::module_& m);
void register_optim(py::module_& m);

}  // namespace revcore::bind
