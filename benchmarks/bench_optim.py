"""One Adam step: revcore's native fused kernel against the numpy step it replaces and
against torch.optim.Adam (fused=True and the default), one run.

    python benchmarks/bench_optim.py [--repeats 21] [--threads 1] [--features 784]

Parameter sets, for the InvertibleClassifier's model on d = --features inputs with its
defaults (n_blocks 6, so 7 LU mixing layers; couplings with hidden (64, 64); 10 classes):
``list``: every array on its own (lower and upper d x d, log_scale and bias d per mixing
layer; the couplings' weights and biases; the class means and log-scales), as a torch user
would hand them to the optimiser; ``flat``: the same numbers in one flat buffer, as the
classifier's training loop steps them; plus single arrays of 4k, 64k and 1M elements.
Times are medians of --repeats steps after a warm-up, the libraries alternating; ratios are
peer time / revcore time (> 1: revcore faster). revcore's step is checked bit for bit
against the numpy step first.
"""

from __future__ import annotations

import argparse

import numpy as np
from _alternating import median_times, pin_threads

from revcore import reference
from revcore._optimizers import Adam


def classifier_shapes(d: int, classes: int = 10, blocks: int = 6, hidden: int = 64):
    shapes = []
    half = d // 2
    for _ in range(blocks + 1):
        shapes += [(d, d), (d, d), (d,), (d,)]
    for _ in range(blocks):
        shapes += [(hidden, half), (hidden,), (hidden, hidden), (hidden,),
                   (2 * (d - half), hidden), (2 * (d - half),)]
    shapes += [(classes, d), (d,)]
    return shapes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--features", type=int, default=784)
    args = parser.parse_args()

    torch = pin_threads(args.threads)
    shapes = classifier_shapes(args.features)
    total = sum(int(np.prod(s)) for s in shapes)
    cases = {
        f"list ({len(shapes)} arrays, {total / 1e6:.2f}M)": shapes,
        f"flat ({total / 1e6:.2f}M)": [(total,)],
        "one array 4k": [(4096,)],
        "one array 64k": [(65536,)],
        "one array 1M": [(1 << 20,)],
    }
    print(f"threads {args.threads}, medians of {args.repeats}; "
          f"torch {torch.__version__ if torch else 'not installed'}")
    print("| parameters | dtype | revcore (ms) | numpy / revcore | torch fused / revcore | "
          "torch default / revcore |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, case in cases.items():
        for dtype in (np.float32, np.float64):
            rng = np.random.default_rng(0)
            params = [rng.normal(size=s).astype(dtype) for s in case]
            grads = [rng.normal(size=s).astype(dtype) for s in case]
            twins = [p.copy() for p in params]
            native, numpy_adam = Adam(params), reference.Adam(twins)
            native.step(params, grads, 1e-3)
            numpy_adam.step(twins, grads, 1e-3)
            for a, b in zip(params, twins):
                np.testing.assert_array_equal(a, b)
            functions = {
                "revcore": lambda native=native, params=params, grads=grads:
                    native.step(params, grads, 1e-3),
                "numpy": lambda numpy_adam=numpy_adam, twins=twins, grads=grads:
                    numpy_adam.step(twins, grads, 1e-3),
            }
            if torch is not None:
                for name, fused in (("torch fused", True), ("torch default", None)):
                    tensors = [torch.from_numpy(p.copy()).requires_grad_() for p in params]
                    for t, g in zip(tensors, grads):
                        t.grad = torch.from_numpy(g.copy())
                    optimizer = torch.optim.Adam(tensors, lr=1e-3, fused=fused)
                    functions[name] = optimizer.step
            times = median_times(functions, args.repeats)
            ours = times["revcore"]
            cells = [f"{times[n] / ours:.2f}" if n in times else "-"
                     for n in ("numpy", "torch fused", "torch default")]
            print(f"| {label} | {np.dtype(dtype).name} | {ours * 1e3:.3f} | "
                  + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
