#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "bindings.hpp"
#include "interruptible.hpp"
#include "lu/lu.hpp"

namespace revcore::bind {

namespace {

using Pivots = py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>;

template <typename T>
void copy_matrix(const Matrix<T>& from, const Matrix<T>& to) {
  for (index_t i = 0; i < from.rows; ++i)
    for (index_t j = 0; j < from.cols; ++j)
      to.data[i * to.rs + j * to.cs] = from.data[i * from.rs + j * from.cs];
}

// Returns (lu, piv, info) with lu a new C-ordered array; `a` is left untouched.
py::tuple factor(const py::array& a) {
  return dispatch(a, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const auto A = matrix<T>(a, "a");
    py::array_t<T> lu({A.rows, A.cols});
    Pivots piv(std::min(A.rows, A.cols));
    const auto LU = matrix<T>(lu, "lu");
    std::int32_t* p = piv.mutable_data();
    index_t info = 0;
    run_interruptible([&] {
      copy_matrix(A, LU);
      info = lu_factor<T>(LU.rows, LU.cols, LU.data, LU.rs, LU.cs, p);
    });
    return py::make_tuple(std::move(lu), std::move(piv), info);
  });
}

// The solution of op(A) X = B as a new C-ordered array shaped like b (2-D), or None when a
// pivot is out of range or (with check_finite) an input holds inf or NaN: the Python layer
// then raises the precise error. Those checks run here, with the GIL released.
py::object solve(const py::array& lu, const Pivots& piv, const py::array& b, bool trans,
                 bool check_finite) {
  return dispatch(lu, [&](auto tag) -> py::object {
    using T = decltype(tag);
    const auto LU = matrix<T>(lu, "lu");
    const auto B = matrix<T>(b, "b");
    if (LU.rows != LU.cols || B.rows != LU.rows || piv.size() != LU.rows)
      throw py::value_error("lu_solve: shapes of lu, piv and b disagree");
    const std::int32_t* p = piv.data();
    py::array_t<T> x({B.rows, B.cols});
    const auto X = matrix<T>(x, "x");
    bool ok = true;
    run_interruptible([&] {
      for (index_t i = 0; i < LU.rows; ++i) ok = ok && p[i] >= 0 && p[i] < LU.rows;
      if (ok && check_finite)
        ok = all_finite<T>(LU.rows, LU.cols, LU.data, LU.rs, LU.cs) &&
             all_finite<T>(B.rows, B.cols, B.data, B.rs, B.cs);
      if (ok) {
        copy_matrix(B, X);
        // Right-hand sides are independent: solved in blocks of columns.
        for_blocks(X.cols, 2.0 * double(LU.rows) * double(LU.rows), [&](index_t j0, index_t j1) {
          lu_solve<T>(LU.rows, j1 - j0, LU.data, LU.rs, LU.cs, p, trans, X.data + j0 * X.cs, X.rs,
                      X.cs);
        });
      }
    });
    if (!ok) return py::none();
    return std::move(x);
  });
}

// op(A) X = B for a triangle A (lower or upper, unit diagonal or not) by the blocked
// solves; X is a new array in B's memory order (C or Fortran), so both layouts of the
// kernel's right-hand sides are reachable from the tests.
py::array triangular_solve(const py::array& a, const py::array& b, bool lower, bool unit) {
  return dispatch(a, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const auto A = matrix<T>(a, "a");
    const auto B = matrix<T>(b, "b");
    if (A.rows != A.cols || B.rows != A.rows)
      throw py::value_error("triangular_solve: shapes of a and b disagree");
    const auto size = static_cast<py::ssize_t>(sizeof(T));
    const bool fortran = (b.flags() & py::array::f_style) && !(b.flags() & py::array::c_style);
    py::array_t<T> x({B.rows, B.cols}, fortran ? std::vector<py::ssize_t>{size, B.rows * size}
                                               : std::vector<py::ssize_t>{B.cols * size, size});
    const auto X = matrix<T>(x, "x");
    {
      py::gil_scoped_release release;
      copy_matrix(B, X);
      if (lower)
        trsm_lower<T>(A.rows, X.cols, unit, A.data, A.rs, A.cs, X.data, X.rs, X.cs);
      else
        trsm_upper<T>(A.rows, X.cols, unit, A.data, A.rs, A.cs, X.data, X.rs, X.cs);
    }
    return std::move(x);
  });
}

double condition_estimate(const py::array& lu, const Pivots& piv, double norm1) {
  return dispatch(lu, [&](auto tag) -> double {
    using T = decltype(tag);
    const auto LU = matrix<T>(lu, "lu");
    if (LU.rows != LU.cols || piv.size() != LU.rows)
      throw py::value_error("lu_condition_estimate: shapes of lu and piv disagree");
    const std::int32_t* p = piv.data();
    py::gil_scoped_release release;
    return static_cast<double>(
        lu_condition_estimate<T>(LU.rows, LU.data, LU.rs, LU.cs, p, static_cast<T>(norm1)));
  });
}

}  // namespace

void register_lu(py::module_& m) {
  m.def("lu_factor", &factor, py::arg("a"));
  m.def("lu_solve", &solve, py::arg("lu"), py::arg("piv"), py::arg("b"), py::arg("trans"),
        py::arg("check_finite"));
  m.def("triangular_solve", &triangular_solve, py::arg("a"), py::arg("b"), py::arg("lower"),
        py::arg("unit"));
  m.def("lu_condition_estimate", &condition_estimate, py::arg("lu"), py::arg("piv"),
        py::arg("norm1"));
}

}  // namespace revcore::bind
