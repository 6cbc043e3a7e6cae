"""Timing of the GEMM kernels against numpy (OpenBLAS) in the same run.

PYTHONPATH=/tmp/gemm-dev-build python3 dev/bench_gemm.py [--threads 1|2] [--only square,layer,fused,batch1]
Speedup = numpy median time / revcore median time (> 1: revcore faster). Peak per PERF.md.
"""

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import _gemm_dev

PEAK = {np.float32: 116e9, np.float64: 58e9}
ACT = {"identity": 0, "relu": 1, "leaky_relu": 2, "tanh": 3, "sigmoid": 4}


def median_time(fn, min_time=0.02, repeats=7):
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int(min_time / one))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number)
    return float(np.median(samples))


def compare(ours, theirs, rounds=3, **kw):
    """Interleaved medians, so drift from other load hits both sides alike."""
    t_ours, t_theirs = [], []
    for _ in range(rounds):
        t_theirs.append(median_time(theirs, **kw))
        t_ours.append(median_time(ours, **kw))
    return float(np.median(t_ours)), float(np.median(t_theirs))


def row(label, flops, dtype, t_ours, t_np, threads):
    peak = PEAK[dtype] * threads
    print(f"{label:34s} {dtype.__name__:8s} ours {flops / t_ours / 1e9:7.1f} GF/s "
          f"({100 * flops / t_ours / peak:5.1f}%)  numpy {flops / t_np / 1e9:7.1f} GF/s "
          f"({100 * flops / t_np / peak:5.1f}%)  speedup {t_np / t_ours:5.2f}x", flush=True)


def bench_square(threads, dtypes):
    rng = np.random.default_rng(0)
    for dtype in dtypes:
        for n in [512, 1023, 1024, 2048]:
            a = rng.standard_normal((n, n)).astype(dtype)
            b = rng.standard_normal((n, n)).astype(dtype)
            c1 = np.empty((n, n), dtype)
            c2 = np.empty((n, n), dtype)
            t_ours, t_np = compare(lambda: _gemm_dev.gemm(1.0, a, b, 0.0, c1),
                                   lambda: np.matmul(a, b, out=c2),
                                   rounds=3 if n < 2048 else 2, repeats=5 if n < 2048 else 3)
            row(f"square n={n}", 2.0 * n ** 3, dtype, t_ours, t_np, threads)


def bench_layer(threads, dtypes):
    rng = np.random.default_rng(1)
    for dtype in dtypes:
        for batch in [32, 256, 4096]:
            for width in [64, 256, 1024]:
                x = rng.standard_normal((batch, width)).astype(dtype)
                w = rng.standard_normal((width, width)).astype(dtype)
                c1 = np.empty((batch, width), dtype)
                c2 = np.empty((batch, width), dtype)
                t_ours, t_np = compare(lambda: _gemm_dev.gemm(1.0, x, w.T, 0.0, c1),
                                       lambda: np.matmul(x, w.T, out=c2))
                row(f"x@W.T batch={batch} width={width}", 2.0 * batch * width * width, dtype,
                    t_ours, t_np, threads)


def bench_fused(threads, dtypes):
    rng = np.random.default_rng(2)
    for dtype in dtypes:
        for batch in [256, 4096]:
            for width in [64, 256, 1024]:
                x = rng.standard_normal((batch, width)).astype(dtype)
                w = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(dtype)
                bias = rng.standard_normal(width).astype(dtype)
                c1 = np.empty((batch, width), dtype)
                c2 = np.empty((batch, width), dtype)
                for act in ["tanh", "sigmoid", "leaky_relu"]:
                    code = ACT[act]
                    t_ours, t_np = compare(
                        lambda: _gemm_dev.gemm_bias_act(x, w.T, c1, bias, code, 0.01),
                        lambda: np.matmul(x, w.T, out=c2))
                    row(f"fused {act} b={batch} w={width} vs bare", 2.0 * batch * width * width,
                        dtype, t_ours, t_np, threads)


def bench_batch1(threads, dtypes):
    rng = np.random.default_rng(3)
    for dtype in dtypes:
        for width in [64, 128, 256]:
            x = rng.standard_normal((1, width)).astype(dtype)
            w = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(dtype)
            bias = rng.standard_normal(width).astype(dtype)
            slope = dtype(0.01)
            c1 = np.empty((1, width), dtype)
            numpy_forms = {
                "tanh": lambda: np.tanh(x @ w.T + bias),
                "sigmoid": lambda: 1 / (1 + np.exp(-(x @ w.T + bias))),
                "leaky_relu": lambda: (lambda z: np.maximum(z, slope * z))(x @ w.T + bias),
                "relu": lambda: np.maximum(x @ w.T + bias, 0),
            }
            for act, ref in numpy_forms.items():
                code = ACT[act]
                assert ref().dtype == dtype
                t_ours, t_np = compare(lambda: _gemm_dev.gemm_bias_act(x, w.T, c1, bias, code, 0.01),
                                       ref)
                row(f"batch1 {act} width={width}", 2.0 * width * width, dtype, t_ours, t_np,
                    threads)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", default="square,layer,fused,batch1,lu")
    parser.add_argument("--dtypes", default="float32,float64")
    args = parser.parse_args()
    dtypes = [getattr(np, d) for d in args.dtypes.split(",")]
    _gemm_dev.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads, user_api="blas"):
        info = [(i["internal_api"], i["architecture"], i["num_threads"]) for i in threadpool_info()]
        print(f"revcore kernel {_gemm_dev.kernel_name()}, threads {args.threads}; numpy BLAS {info}")
        for part in args.only.split(","):
            globals()[f"bench_{part}"](args.threads, dtypes)



def bench_lu(threads, dtypes):
    """LU trailing update C -= L U on strided sub-blocks of one matrix (alpha=-1, beta=1)."""
    rng = np.random.default_rng(4)
    for dtype in dtypes:
        for n, kb in [(1024, 32), (1024, 128), (2048, 128)]:
            full1 = rng.standard_normal((n, n)).astype(dtype)
            full2 = full1.copy()
            l1, u1, c1 = full1[kb:, :kb], full1[:kb, kb:], full1[kb:, kb:]
            l2, u2, c2 = full2[kb:, :kb], full2[:kb, kb:], full2[kb:, kb:]

            def numpy_update():
                c2[...] -= l2 @ u2

            t_ours, t_np = compare(lambda: _gemm_dev.gemm(-1.0, l1, u1, 1.0, c1), numpy_update)
            m = n - kb
            row(f"LU update n={n} kb={kb}", 2.0 * m * m * kb, dtype, t_ours, t_np, threads)


if __name__ == "__main__":
    main()
