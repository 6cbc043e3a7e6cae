// The optimiser kernels written once over a Simd<T> backend. Included by one translation unit
// per instruction set after its simd/<isa>.hpp, inside that ISA's namespace (REVCORE_ISA).
#pragma once

#ifndef REVCORE_ISA
#error "include the ISA's simd/<isa>.hpp before this header"
#endif

#include "optim/kernels.hpp"

namespace revcore::detail::REVCORE_ISA {

template <typename T>
struct OptimImpl {
  using S = Simd<T>;
  using V = typename S::V;
  static constexpr index_t VL = S::VL;

  // Separate multiplies and adds, no FMA (the build compiles this family with contraction
  // off): the result then matches the numpy reference operation for operation.
  static void adam(index_t n, T* p, const T* g, T* m, T* v, const AdamScalars<T>& s) {
    const V beta1 = S::set1(s.beta1), rest1 = S::set1(s.one_minus_beta1);
    const V beta2 = S::set1(s.beta2), rest2 = S::set1(s.one_minus_beta2);
    const V step = S::set1(s.step_size), c2 = S::set1(s.correction2), eps = S::set1(s.eps);
    auto update = [&](V pv, V gv, V& mv, V& vv) {
      mv = S::add(S::mul(mv, beta1), S::mul(rest1, gv));
      vv = S::add(S::mul(vv, beta2), S::mul(S::mul(rest2, gv), gv));
      return S::sub(pv, S::div(S::mul(step, mv), S::add(S::sqrt(S::div(vv, c2)), eps)));
    };
    index_t i = 0;
    for (; i + VL <= n; i += VL) {
      V mv = S::load(m + i), vv = S::load(v + i);
      const V pv = update(S::load(p + i), S::load(g + i), mv, vv);
      S::store(m + i, mv);
      S::store(v + i, vv);
      S::store(p + i, pv);
    }
    if (i < n) {
      const index_t c = n - i;
      V mv = S::load_partial(m + i, c), vv = S::load_partial(v + i, c);
      const V pv = update(S::load_partial(p + i, c), S::load_partial(g + i, c), mv, vv);
      S::store_partial(m + i, mv, c);
      S::store_partial(v + i, vv, c);
      S::store_partial(p + i, pv, c);
    }
  }

  static constexpr optim::Kernels<T> kernels() { return {&adam}; }
};

inline constexpr optim::Table optim_table{kIsa, OptimImpl<float>::kernels(),
                                          OptimImpl<double>::kernels()};

}  // namespace revcore::detail::REVCORE_ISA
