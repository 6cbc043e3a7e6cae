"""log|det J| with the forward pass: revcore's fused native call against its former layer
loop and against PyTorch, one run, one thread.

    python benchmarks/bench_logdet.py [--widths 64 256 1024] [--batches 1 256 4096]
        [--activations tanh leaky_relu] [--depth 2] [--repeats 7] [--threads 1]

Per case (same network and inputs for everyone): revcore ``Network.forward_log_det``
(native, one call; log|det W| from the cached factors); ``old``, the layer loop it replaces
(``Backend.forward_log_det_layers``, cached factors too); ``torch``, the forward pass and
log-determinant written plainly in torch (``torch.linalg.slogdet(W)`` per call, ``addmm``,
the activation and its log-derivative in closed form), and ``torch cached`` with the
log|det W| computed once beforehand. Each result is checked against revcore's before timing.
Times are medians of ``--repeats`` calls after a warm-up, the libraries alternating; the
ratios are peer time / revcore time (> 1: revcore faster).
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from _alternating import median_times, pin_threads

import revcore


def torch_pass(torch, weights, biases, activation, slope, cached):
    functional = torch.nn.functional
    log_slope = math.log(slope)
    log_dets = [torch.linalg.slogdet(w)[1] for w in weights] if cached else None

    def run(x):
        total = torch.zeros(x.shape[0], dtype=x.dtype)
        h = x
        for i, (w, b) in enumerate(zip(weights, biases)):
            z = torch.addmm(b, h, w.T)
            total = total + (log_dets[i] if cached else torch.linalg.slogdet(w)[1])
            if activation == "tanh":
                total = total + (2 * (math.log(2.0) - z - functional.softplus(-2 * z))).sum(1)
                h = torch.tanh(z)
            elif activation == "leaky_relu":
                total = total + (z <= 0).sum(1).to(x.dtype) * log_slope
                h = functional.leaky_relu(z, slope)
            elif activation == "sigmoid":
                total = total - (functional.softplus(-z) + functional.softplus(z)).sum(1)
                h = torch.sigmoid(z)
            else:
                h = z
        return h, total

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 256, 4096])
    parser.add_argument("--activations", nargs="+", default=["tanh", "leaky_relu"])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    torch = pin_threads(args.threads)
    print(f"threads {args.threads}, depth {args.depth}, medians of {args.repeats}; "
          f"torch {torch.__version__ if torch else 'not installed'}")
    print("| activation | dtype | width | batch | revcore (ms) | old / revcore | "
          "torch / revcore | torch cached / revcore |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for activation in args.activations:
        for dtype_name in args.dtypes:
            dtype = np.dtype(dtype_name)
            for width in args.widths:
                net = revcore.Network.random(width, args.depth, activation, dtype=dtype, seed=0,
                                             negative_slope=0.1)
                layers = net.layers
                for batch in args.batches:
                    x = np.random.default_rng(1).normal(size=(batch, width)).astype(dtype)
                    y, log_det = net.forward_log_det(x)  # also caches factors and log|det W|
                    functions = {
                        "revcore": lambda x=x, net=net: net.forward_log_det(x),
                        "old": lambda x=x, net=net, layers=layers:
                            net._backend.forward_log_det_layers(layers, x),
                    }
                    rtol = 1e-3 if dtype == np.float32 else 1e-9
                    np.testing.assert_allclose(functions["old"]()[1], log_det, rtol=rtol,
                                               atol=rtol * width)
                    if torch is not None:
                        weights = [torch.from_numpy(layer.weight.copy()) for layer in layers]
                        biases = [torch.from_numpy(layer.bias.copy()) for layer in layers]
                        tx = torch.from_numpy(x)
                        for name, cached in (("torch", False), ("torch cached", True)):
                            run = torch_pass(torch, weights, biases, activation, 0.1, cached)
                            ty, tl = run(tx)
                            np.testing.assert_allclose(tl.numpy(), log_det, rtol=rtol,
                                                       atol=rtol * width)
                            np.testing.assert_allclose(ty.numpy(), y, rtol=rtol, atol=rtol)

                            def timed(run=run, tx=tx):
                                with torch.inference_mode():
                                    run(tx)

                            functions[name] = timed
                    times = median_times(functions, args.repeats)
                    ours = times["revcore"]

                    def ratio(name, times=times, ours=ours):
                        return f"{times[name] / ours:.2f}" if name in times else "-"

                    print(f"| {activation} | {dtype_name} | {width} | {batch} | "
                          f"{ours * 1e3:.3f} | {ratio('old')} | {ratio('torch')} | "
                          f"{ratio('torch cached')} |", flush=True)


if __name__ == "__main__":
    main()
