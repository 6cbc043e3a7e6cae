"""Checks every kernel family against the numpy reference on one kernel path.

Run as a script under REVCORE_ARCH=<path> by test_dispatch.py (the path is chosen once per
process). Prints one line per failure and exits non-zero if there is any.
"""

import itertools
import sys

import numpy as np

import revcore
from revcore import reference
from revcore._activations import ACTIVATIONS as REGISTRY

SIZES = [0, 1, 2, 3, 7, 8, 13, 16, 17, 31, 64, 97, 128, 257]
ACTIVATIONS = list(REGISTRY)


def tolerance(dtype, k):
    # A k-term dot product of O(1) terms is off by at most about k * eps (and typically by
    # sqrt(k) * eps); 4 (k + 1) eps bounds it with room for differing summation orders.
    return 4 * (k + 1) * np.finfo(dtype).eps


def main() -> int:
    wanted = sys.argv[1]
    failures = []
    kernel = revcore._core.build_info()["kernel"]
    if kernel != wanted:
        failures.append(f"asked for {wanted}, got {kernel}")
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        for m, k, n in itertools.chain(
            ((s, s, s) for s in SIZES),
            ((m, k, n) for m, k, n in itertools.product([1, 13, 97], [0, 7, 257], [2, 31, 64])),
        ):
            a = rng.standard_normal((m, k)).astype(dtype)
            b = rng.standard_normal((k, n)).astype(dtype)
            exact = a.astype(np.float64) @ b
            scale = np.sqrt(max(k, 1))
            for x, y in ((a, b), (np.asfortranarray(a), b[::-1, ::-1][::-1, ::-1]),
                         (a.T.copy().T, np.asfortranarray(b))):
                got = revcore.matmul(x, y)
                err = np.abs(got - exact).max(initial=0) / scale
                if not err <= tolerance(dtype, k):
                    failures.append(f"matmul {m}x{k}x{n} {np.dtype(dtype).name}: {err:.2e}")
            if m and k and n and m == n:
                w = rng.standard_normal((n, k)).astype(dtype) / scale
                bias = rng.standard_normal(n).astype(dtype)
                for name in ACTIVATIONS:
                    for slope in (0.1, 2.0):
                        got = revcore.dense(a, w, bias, name, slope)
                        want = reference.dense(a.astype(np.float64), w.astype(np.float64),
                                               bias.astype(np.float64), name, slope)
                        err = np.abs(got - want).max() / max(1.0, slope)
                        if not err <= tolerance(dtype, k):
                            failures.append(f"dense {name} slope {slope} {m}x{k}x{n} "
                                            f"{np.dtype(dtype).name}: {err:.2e}")
        for n in [1, 2, 3, 8, 9, 17, 64, 65, 129, 257]:
            a = rng.standard_normal((n, n)).astype(dtype)
            lu, piv = revcore.lu_factor(a)
            lower = np.tril(lu, -1) + np.eye(n)
            pa = a.astype(np.float64).copy()
            for i, p in enumerate(piv):
                pa[[i, p]] = pa[[p, i]]
            err = np.abs(lower.astype(np.float64) @ np.triu(lu) - pa).max() / n
            if not err <= tolerance(dtype, n):
                failures.append(f"lu_factor {n} {np.dtype(dtype).name}: {err:.2e}")
            for nrhs, trans in itertools.product([1, 5, 33], [0, 1]):
                rhs = rng.standard_normal((n, nrhs)).astype(dtype)
                x = revcore.lu_solve((lu, piv), rhs, trans=trans)
                op = a.T if trans else a
                residual = np.abs(op.astype(np.float64) @ x - rhs).max()
                bound = tolerance(dtype, n) * (np.abs(op).sum(1).max() * np.abs(x).max() + 1)
                if not residual <= n * bound:
                    failures.append(f"lu_solve {n} nrhs {nrhs} trans {trans} "
                                    f"{np.dtype(dtype).name}: {residual:.2e}")
        for width, batch, name in itertools.product([1, 7, 64], [1, 2, 3, 100], ["leaky_relu", "tanh", "sigmoid"]):
            net = revcore.Network.random(width, 3, name, dtype=dtype, seed=width)
            x = rng.uniform(-1, 1, (batch, width)).astype(dtype)
            back = net.inverse(net.forward(x))
            err = np.abs(back - x).max()
            # Three layers of condition 10, each error amplified on the way back by the
            # inverse activation's slope: 1/a for leaky_relu, 1/(1 - y^2) for tanh and
            # 1/(y (1 - y)) >= 4 for sigmoid (far more near saturation).
            amplification = {"leaky_relu": 1e4, "tanh": 1e4, "sigmoid": 1e6}[name]
            if not err <= amplification * np.finfo(dtype).eps:
                failures.append(f"inverse {name} {width}x{batch} {np.dtype(dtype).name}: "
                                f"{err:.2e}")
    for failure in failures:
        print(failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
