"""Where lu_solve's blocked triangular solves beat its lane kernels (the table in src/lu/lu.cpp).

For each order n, dtype, factor layout (revcore's row-major, scipy's column-major) and number
of right-hand sides, times in one interleaved loop (medians of rounds, one thread everywhere):

- ``lane``: lu_solve on slices of B seven lane panels wide (112 float64 / 224 float32
  columns, below the blocked solves' threshold), which run the lane kernels (nrhs >= 3);
- ``blocked``: the two blocked triangular solves (``_core.triangular_solve``, no interchanges);
- ``lu_solve``: lu_solve on the whole B, whichever path it picks.

lu_solve runs with check_finite=False, as the blocked solves check nothing.

Prints lane / blocked (> 1: the blocked solves win) and lu_solve's GFLOP/s (2 n^2 nrhs flops).
Run: ``python benchmarks/bench_solve_crossover.py [--dtype float64] [--n 1024,2048]
[--nrhs 1,32,128,256]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
from _alternating import median_times

import revcore
from revcore import _core


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--n", default="1024,1536,2048,3072,4096")
    parser.add_argument("--nrhs", default="1,16,32,64,128,256")
    parser.add_argument("--orders", default="CF")
    args = parser.parse_args()
    threadpoolctl = __import__("threadpoolctl")
    threadpoolctl.threadpool_limits(1)
    revcore.set_num_threads(1)
    dtype = np.dtype(args.dtype).type
    lanes = 16 if dtype == np.float64 else 32
    rng = np.random.default_rng(0)
    print("dtype   order     n  nrhs   lane ms  blocked ms  lu_solve ms  lane/blocked  GFLOP/s")
    for n in (int(v) for v in args.n.split(",")):
        a = (rng.standard_normal((n, n)) / np.sqrt(n) + 3 * np.eye(n)).astype(dtype)
        lu, piv = revcore.lu_factor(a)
        for order in args.orders:
            factors = np.asarray(lu, order=order)
            for nrhs in (int(v) for v in args.nrhs.split(",")):
                b = rng.standard_normal((n, nrhs)).astype(dtype)

                def lane(factors=factors, piv=piv, b=b, nrhs=nrhs):
                    for j in range(0, nrhs, 7 * lanes):
                        revcore.lu_solve((factors, piv), b[:, j:j + 7 * lanes],
                                         check_finite=False)

                def blocked(factors=factors, b=b):
                    y = _core.triangular_solve(factors, b, True, True)
                    return _core.triangular_solve(factors, y, False, False)

                calls: dict[str, Callable[[], object]] = {
                    "blocked": blocked,
                    "lu_solve": lambda factors=factors, piv=piv, b=b: revcore.lu_solve(
                        (factors, piv), b, check_finite=False),
                }
                if nrhs >= 3:
                    calls["lane"] = lane
                rounds = max(5, min(21, int(4e9 / (2 * n * n * nrhs + 1e6))))
                t = median_times(calls, rounds)
                lane_ms = f"{t['lane'] * 1e3:9.3f}" if "lane" in t else "        -"
                ratio = f"{t['lane'] / t['blocked']:12.2f}" if "lane" in t else "           -"
                print(f"{args.dtype:7s} {order:5s} {n:5d} {nrhs:5d} {lane_ms} "
                      f"{t['blocked'] * 1e3:11.3f} {t['lu_solve'] * 1e3:12.3f} {ratio} "
                      f"{2 * n * n * nrhs / t['lu_solve'] / 1e9:8.1f}", flush=True)


if __name__ == "__main__":
    main()
