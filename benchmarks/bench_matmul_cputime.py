"""revcore.matmul against numpy's ``a @ b`` on square matrices, timed by wall clock and by
the calling thread's CPU time, the two libraries taking turns call by call.

On a machine shared with other jobs a process is often descheduled in the middle of a call;
the wall-clock median then measures the other jobs as much as the kernels. Thread CPU time
(``time.thread_time``) leaves out the time the thread did not run, so at one thread its
ratio is the steadier of the two (it still includes slow-downs from caches and memory shared
with the other jobs). Both are printed; ratio = numpy's median over revcore's (> 1: revcore
faster). Which BLAS kernels numpy runs depends on OPENBLAS_CORETYPE: run the script with it
as the environment has it, unset, and forced (for example ``OPENBLAS_CORETYPE=SkylakeX``).

    python benchmarks/bench_matmul_cputime.py --sizes 1024 2048 --rounds 15 --peak 255 127.5
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _alternating import pin_threads
from threadpoolctl import threadpool_info

import revcore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    parser.add_argument("--rounds", type=int, default=9, help="timed calls per library")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--peak", type=float, nargs=2, metavar=("F32", "F64"),
                        help="per-core peak GFLOP/s (benchmarks/fma_peak.cpp) for a %% column")
    args = parser.parse_args()
    pin_threads(args.threads)
    blas = [(i.get("internal_api"), i.get("architecture")) for i in threadpool_info()
            if i.get("internal_api") != "revcore"]
    print(f"{args.threads} thread(s), {args.rounds} rounds; numpy's BLAS: {blas}")
    print("dtype     n     wall ratio  cpu ratio  revcore GFLOP/s (cpu)  numpy GFLOP/s (cpu)")
    for dtype, peak in zip((np.float32, np.float64), args.peak or (None, None)):
        for n in args.sizes:
            rng = np.random.default_rng(n)
            a = rng.standard_normal((n, n)).astype(dtype)
            b = rng.standard_normal((n, n)).astype(dtype)
            calls = {"revcore": lambda a=a, b=b: revcore.matmul(a, b),
                     "numpy": lambda a=a, b=b: a @ b}
            wall: dict[str, list[float]] = {name: [] for name in calls}
            cpu: dict[str, list[float]] = {name: [] for name in calls}
            for f in calls.values():
                f()
            for _ in range(args.rounds):
                for name, f in calls.items():
                    w0, c0 = time.perf_counter(), time.thread_time()
                    f()
                    cpu[name].append(time.thread_time() - c0)
                    wall[name].append(time.perf_counter() - w0)
            w = {name: float(np.median(s)) for name, s in wall.items()}
            c = {name: float(np.median(s)) for name, s in cpu.items()}
            gflop = 2.0 * n**3 / 1e9
            share = f" ({100 * gflop / c['revcore'] / peak:.1f}% of peak)" if peak else ""
            print(f"{np.dtype(dtype).name:8s} {n:5d}  {w['numpy'] / w['revcore']:9.3f}"
                  f"  {c['numpy'] / c['revcore']:9.3f}  {gflop / c['revcore']:8.1f}{share}"
                  f"  {gflop / c['numpy']:8.1f}", flush=True)


if __name__ == "__main__":
    main()
