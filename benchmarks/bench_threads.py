"""Two threads against one: revcore's throughput at ``--threads`` threads over its throughput
at one, per operation, in one run.

    python benchmarks/bench_threads.py [--threads 2] [--repeats 9] [--only TEXT] [--quick]

Cases: matmul, the dense layer (+ tanh), lu_factor, a depth-8 network's forward pass,
forward pass with log|det J| and reverse pass (leaky ReLU), and one training step of the
classifier's network (``lu_dense`` and coupling blocks, its loss and Adam), at width >= 256
and batch >= 256 (and the training step at width 784, batch 128). In every round the one-
and the many-thread runs take turns, so a slow spell of the machine hits both alike; the table gives the median time at one thread, the ratio of medians, and the
spread of the per-round ratios (lowest and highest), which says how noisy the machine was.
Nothing else runs BLAS here, so no other library's threads spin between the turns.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np

import revcore
from revcore._backend import Backend
from revcore._bench_peers import BETA, LEARNING_RATE, _perturbed_flow
from revcore._training import Stepper
from revcore.bench import timed_rounds

Case = tuple[str, str, str, Callable[[], Any]]


def cases(quick: bool, only: str | None) -> list[Case]:
    """The cases whose operation contains ``only`` (all without it); only theirs are built."""

    def wanted(*operations: str) -> bool:
        return only is None or any(only in operation for operation in operations)

    rng = np.random.default_rng(0)
    out: list[Case] = []
    for dtype in (np.float32, np.float64):
        name = np.dtype(dtype).name
        for n in ([] if not wanted("matmul", "lu_factor") else [1024] if quick else
                  [512, 1024, 2048]):
            a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
            out.append(("matmul", f"{n}^3", name, lambda a=a, b=b: revcore.matmul(a, b)))
            out.append(("lu_factor", f"{n}", name, lambda a=a: revcore.lu_factor(a)))
        shapes = [(256, 256)] if quick else [(256, 256), (256, 1024), (4096, 256), (4096, 1024)]
        for batch, width in shapes if wanted("dense tanh", "forward", "inverse") else []:
            x = rng.standard_normal((batch, width)).astype(dtype)
            w = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(dtype)
            out.append(("dense tanh", f"{batch}x{width}", name,
                        lambda x=x, w=w: revcore.dense(x, w, None, "tanh")))
            net = revcore.Network.random(width, 8, "leaky_relu", dtype=dtype, seed=0)
            y = net.forward(x)
            out.append(("forward (depth 8)", f"{batch}x{width}", name,
                        lambda net=net, x=x: net.forward(x)))
            out.append(("forward + log|det J|", f"{batch}x{width}", name,
                        lambda net=net, x=x: net.forward_log_det(x)))
            out.append(("inverse (depth 8)", f"{batch}x{width}", name,
                        lambda net=net, y=y: net.inverse(y)))
        steps = [(128, 784)] if quick else [(128, 784), (256, 256), (256, 1024), (4096, 256)]
        for batch, width in steps if wanted("train step") else []:
            model = _perturbed_flow(width, 10, rng, np.dtype(dtype))
            stepper = Stepper(model, LEARNING_RATE, batch, BETA, Backend())
            x = rng.standard_normal((batch, width)).astype(dtype)
            y = rng.integers(0, 10, batch)
            out.append(("train step", f"{batch}x{width}", name,
                        lambda s=stepper, x=x, y=y: s.step(x, y)))
    return out


def timed_in_turns(f: Callable[[], Any], threads: int, repeats: int
                   ) -> tuple[float, float, float, float]:
    """(median seconds at one thread, median ratio, lowest and highest per-round ratio)."""

    def at(count: int) -> Callable[[], Any]:
        def call() -> Any:
            with revcore.num_threads(count):
                return f()
        return call

    # rounds of about 20 ms or more
    rounds = timed_rounds({"one": at(1), "many": at(threads)}, repeats, 0.02 * repeats)
    one, many = np.array(rounds["one"]), np.array(rounds["many"])
    ratios = one / many
    return float(np.median(one)), float(np.median(one) / np.median(many)), \
        float(ratios.min()), float(ratios.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--only", help="only the operations whose name contains this")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(f"revcore {revcore.__version__}: {args.threads} threads / 1 thread, throughput, "
          f"medians of {args.repeats} rounds taking turns")
    print(f"{'operation':<22} {'shape':<10} {'dtype':<8} {'1 thread':>10} {'ratio':>6} "
          f"{'rounds':>11}")
    for operation, shape, dtype, f in cases(args.quick, args.only):
        if args.only and args.only not in operation:
            continue
        single, ratio, low, high = timed_in_turns(f, args.threads, args.repeats)
        print(f"{operation:<22} {shape:<10} {dtype:<8} {single * 1e3:>7.2f} ms {ratio:>5.2f}x "
              f"{low:>5.2f}-{high:<5.2f}", flush=True)


if __name__ == "__main__":
    main()
