"""revcore's benchmark suite as a command: ``python -m revcore.bench``.

Times each operation in revcore and in numpy (and scipy / PyTorch where installed) in the same
run, at the same thread count, and prints a table: operation, shape, dtype, revcore's median,
the others' medians (the libraries take turns in every timed round, so that a slow spell of
the machine hits them alike), their ratio to revcore's (> 1: revcore is faster), and
revcore's GFLOP/s with its share of the machine's peak. ``--json PATH`` writes the rows for
comparison across runs. The full pytest-benchmark suite is ``pytest benchmarks``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

import revcore


def measured_peak_per_core() -> dict[str, float]:
    """This core's peak GFLOP/s per dtype with revcore's kernels: the best of five runs of
    independent vector FMA chains, about 20 ms each (what ``--peak`` otherwise gives)."""
    return {dtype: revcore._core.fma_peak(dtype) for dtype in ("float32", "float64")}


@dataclass
class Row:
    operation: str
    shape: str
    dtype: str
    flops: float
    revcore_seconds: float
    others: dict[str, float] = field(default_factory=dict)
    # peers section only: why a library has no time (skipped, or its result disagreed), and
    # the relative difference of each timed peer's result from revcore's
    notes: dict[str, str] = field(default_factory=dict)
    checks: dict[str, float] = field(default_factory=dict)

    def ratios(self) -> dict[str, float]:
        return {name: t / self.revcore_seconds for name, t in self.others.items()}


def median_times(calls: dict[str, Callable[[], Any]], repeats: int,
                 min_time: float = 0.05) -> dict[str, float]:
    """Median seconds per call of each of ``calls`` over ``repeats`` rounds in which the
    calls take turns (see :func:`timed_rounds`)."""
    return {name: float(np.median(times))
            for name, times in timed_rounds(calls, repeats, min_time).items()}


def timed_rounds(calls: dict[str, Callable[[], Any]], repeats: int,
                 min_time: float = 0.05) -> dict[str, list[float]]:
    """Seconds per call of each of ``calls`` in each of ``repeats`` rounds in which the calls
    take turns, so that a slow spell of the machine (other jobs, a neighbour on the host)
    hits them all alike instead of biasing the ratio of whichever ran then. In each round a
    call runs enough times in a row to last about ``min_time / repeats``; each is called once
    first (warm-up, and caches such as LU factors)."""
    counts = {}
    for name, f in calls.items():
        f()
        calls_per_round = 1
        while True:
            start = time.perf_counter()
            for _ in range(calls_per_round):
                f()
            if time.perf_counter() - start >= min_time / repeats or calls_per_round >= 1 << 16:
                break
            calls_per_round *= 2
        counts[name] = calls_per_round
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, f in calls.items():
            start = time.perf_counter()
            for _ in range(counts[name]):
                f()
            samples[name].append((time.perf_counter() - start) / counts[name])
    return samples


def median_time(f: Callable[[], Any], repeats: int, min_time: float = 0.05) -> float:
    """Median seconds per call over ``repeats`` rounds, each long enough to time reliably."""
    return median_times({"f": f}, repeats, min_time)["f"]


def _optional(name: str) -> Any:
    try:
        return __import__(name, fromlist=["_"])
    except ImportError:
        return None


# The calls take no arguments; their parameters only bind the loop's arrays (defaults).
_Calls = dict[str, Callable[..., Any]]
Case = tuple[str, str, str, float, _Calls]


def cases(quick: bool, only: str | None = None) -> list[Case]:
    """(operation, shape, dtype, flops, {library: call}) for every benchmark, or for those
    whose operation contains ``only`` (the others' operands are not built)."""

    def wanted(*operations: str) -> bool:
        return only is None or any(only in operation for operation in operations)

    rng = np.random.default_rng(0)
    linalg = _optional("scipy.linalg")
    torch = _optional("torch")
    out: list[Case] = []
    calls: dict[str, Callable[..., Any]]
    square = [256, 512] if quick else [256, 512, 1024, 2048]
    for dtype in (np.float32, np.float64):
        name = np.dtype(dtype).name
        for n in square if wanted("matmul") else []:
            a = rng.standard_normal((n, n)).astype(dtype)
            b = rng.standard_normal((n, n)).astype(dtype)
            calls = {"revcore": lambda a=a, b=b: revcore.matmul(a, b),
                     "numpy": lambda a=a, b=b: a @ b}
            if torch is not None:
                ta, tb = torch.from_numpy(a), torch.from_numpy(b)
                calls["torch"] = lambda ta=ta, tb=tb: ta @ tb
            out.append(("matmul", f"{n}x{n}x{n}", name, 2.0 * n**3, calls))
        layers = [(32, 64), (256, 256), (4096, 256)] if quick else [
            (b, w) for b in (1, 32, 256, 4096) for w in (64, 256, 1024)]
        for batch, width in layers if wanted("dense tanh") else []:
            x = rng.standard_normal((batch, width)).astype(dtype)
            w = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(dtype)
            bias = rng.standard_normal(width).astype(dtype)
            calls = {  # type: ignore[misc]
                "revcore": lambda x=x, w=w, bias=bias: revcore.dense(x, w, bias, "tanh"),
                "numpy": lambda x=x, w=w, bias=bias: np.tanh(x @ w.T + bias),
            }
            if torch is not None:
                tx, tw, tb = (torch.from_numpy(v) for v in (x, w, bias))
                calls["torch"] = lambda tx=tx, tw=tw, tb=tb: torch.tanh(
                    torch.nn.functional.linear(tx, tw, tb))
            out.append(("dense tanh", f"{batch}x{width}", name, 2.0 * batch * width**2, calls))
        for n in ([] if not wanted("lu_factor") else [256, 1024] if quick else
                  [256, 1024, 2048]):
            a = rng.standard_normal((n, n)).astype(dtype)
            calls = {"revcore": lambda a=a: revcore.lu_factor(a)}  # type: ignore[misc]
            if linalg is not None:
                calls["scipy"] = lambda a=a: linalg.lu_factor(a)
            out.append(("lu_factor", f"{n}x{n}", name, 2.0 * n**3 / 3, calls))
        for n, nrhs in ([] if not wanted("lu_solve") else [(64, 1), (256, 32)] if quick else
                        [(64, 1), (256, 32), (256, 1024), (1024, 32), (1024, 1024)]):
            a = rng.standard_normal((n, n)).astype(dtype)
            rhs = rng.standard_normal((n, nrhs)).astype(dtype)
            factors = revcore.lu_factor(a)
            calls = {"revcore": lambda f=factors, rhs=rhs: revcore.lu_solve(f, rhs)}
            if linalg is not None:
                calls["scipy"] = lambda f=factors, rhs=rhs: linalg.lu_solve(f, rhs)
            out.append(("lu_solve", f"{n}x{n} rhs {nrhs}", name, 2.0 * n * n * nrhs, calls))
        for width, batch in ([] if not wanted("network inverse") else
                             [(64, 256), (256, 256)] if quick else
                             [(w, b) for w in (64, 256, 1024) for b in (1, 256, 4096)]):
            net = revcore.Network.random(width, 8, "leaky_relu", dtype=dtype, seed=0)
            y = net.forward(rng.standard_normal((batch, width)).astype(dtype))
            calls = {"revcore": lambda net=net, y=y: net.inverse(y)}
            if linalg is not None:
                layer_factors = [linalg.lu_factor(layer.weight) for layer in net.layers]

                def scipy_inverse(net=net, y=y, factors=layer_factors):
                    x = y
                    for layer, f in zip(reversed(net.layers), reversed(factors)):
                        z = np.minimum(x, x / layer.negative_slope) - layer.bias
                        x = linalg.lu_solve(f, z.T).T
                    return x

                calls["scipy"] = scipy_inverse
            out.append(("network inverse (depth 8)", f"{batch}x{width}", name,
                        8 * 2.0 * batch * width**2, calls))
        if wanted(*(f"rq_spline {kind}" for kind in ("forward", "inverse", "backward"))):
            out += _spline_cases(rng, dtype, quick, torch)
    return out


def _spline_knots(rng: np.random.Generator, lead: tuple[int, ...], bins: int,
                  dtype: Any) -> list[np.ndarray]:
    """Knots on [-3, 3] in x and y (bins of random widths) and derivatives in [e^-1, e]."""
    knots = []
    for _ in range(2):
        widths = rng.uniform(0.2, 1.0, (*lead, bins))
        edges = np.cumsum(widths, axis=-1) / widths.sum(axis=-1, keepdims=True)
        knots.append(np.concatenate([np.zeros((*lead, 1)), edges], axis=-1) * 6 - 3)
    knots.append(np.exp(rng.uniform(-1, 1, (*lead, bins + 1))))
    return [k.astype(dtype) for k in knots]


def torch_rq_spline(torch: Any, x: Any, x_knots: Any, y_knots: Any, derivatives: Any,
                    inverse: bool = False) -> tuple[Any, Any]:
    """The same spline as revcore.rq_spline, written plainly in torch (the peer: gathers of
    the bin's knots, the formulas of revcore.reference, autograd for the gradients)."""
    if x_knots.dim() == 2:
        x_knots, y_knots, derivatives = (k.expand(x.shape[0], -1, -1)
                                         for k in (x_knots, y_knots, derivatives))
    keys = y_knots if inverse else x_knots
    inside = (x >= keys[..., 0]) & (x <= keys[..., -1])
    safe = torch.where(inside, x, keys[..., 0])
    k = (keys[..., 1:-1] <= safe.unsqueeze(-1)).sum(-1, keepdim=True)
    x0, x1, y0, y1, d0, d1 = (a.gather(-1, j).squeeze(-1) for a in (x_knots, y_knots, derivatives)
                              for j in (k, k + 1))
    w, h = x1 - x0, y1 - y0
    s = h / w
    if inverse:
        r = safe - y0
        c2 = d0 + d1 - 2 * s
        a = h * (s - d0) + r * c2
        b = h * d0 - r * c2
        root = torch.sqrt(torch.clamp(b * b + 4 * a * s * r, min=0))
        xi = torch.where(b >= 0, 2 * s * r / (b + root), (root - b) / (2 * a))
        out = x0 + xi * w
    else:
        xi = (safe - x0) / w
        t = xi * (1 - xi)
        out = y0 + h * (s * xi * xi + d0 * t) / (s + (d0 + d1 - 2 * s) * t)
    t = xi * (1 - xi)
    den = s + (d0 + d1 - 2 * s) * t
    slope = s * s * (d1 * xi * xi + 2 * s * t + d0 * (1 - xi) ** 2) / (den * den)
    return torch.where(inside, out, x), torch.where(inside, torch.log(slope), 0.0)


def _spline_cases(rng: np.random.Generator, dtype: Any, quick: bool, torch: Any) -> list[Case]:
    """Forward, inverse and backward of the rational-quadratic spline, shared and per-row
    knots, against the numpy reference and (where installed) the torch version above, which is
    checked against revcore's values first."""
    from . import reference

    name = np.dtype(dtype).name
    n, d, bins = (1024 if quick else 4096), 64, 8
    out: list[Case] = []
    for per_row in (False, True):
        knots = _spline_knots(rng, (n, d) if per_row else (d,), bins, dtype)
        x = rng.uniform(-3.5, 3.5, (n, d)).astype(dtype)  # a few percent in the tails
        g = rng.standard_normal((2, n, d)).astype(dtype)
        shape = f"{n}x{d} K={bins} {'per-row' if per_row else 'shared'}"
        native: _Calls = {
            "forward": lambda x=x, k=knots: revcore.rq_spline(x, *k),
            "inverse": lambda x=x, k=knots: revcore.rq_spline(x, k[0], k[1], k[2], inverse=True),
            "backward": lambda x=x, k=knots, g=g: revcore.rq_spline_backward(x, *k, *g),
        }
        numpy_calls: _Calls = {
            "forward": lambda x=x, k=knots: reference.rq_spline(x, *k),
            "inverse": lambda x=x, k=knots: reference.rq_spline(x, k[0], k[1], k[2],
                                                                inverse=True),
            "backward": lambda x=x, k=knots, g=g: reference.rq_spline_backward(x, *k, *g),
        }
        torch_calls: _Calls = {}
        if torch is not None:
            tx, tg0, tg1 = (torch.from_numpy(a) for a in (x, g[0], g[1]))
            tk = [torch.from_numpy(k) for k in knots]

            def torch_backward(tx=tx, tk=tk, tg0=tg0, tg1=tg1):
                leaves = [a.detach().requires_grad_() for a in (tx, *tk)]
                y, log_d = torch_rq_spline(torch, *leaves)
                ((y * tg0).sum() + (log_d * tg1).sum()).backward()
                return [a.grad for a in leaves]

            torch_calls = {
                "forward": lambda tx=tx, tk=tk: torch_rq_spline(torch, tx, *tk),
                "inverse": lambda tx=tx, tk=tk: torch_rq_spline(torch, tx, tk[0], tk[1], tk[2],
                                                                inverse=True),
                "backward": torch_backward,
            }
            rtol = 1e-3 if dtype == np.float32 else 1e-9
            for kind in ("forward", "inverse", "backward"):
                ours = native[kind]()
                theirs = [t.numpy() for t in torch_calls[kind]()]
                for a, b in zip(ours, theirs):
                    scale = float(np.abs(a).max()) + 1
                    if not float(np.abs(a - b).max()) <= rtol * scale:
                        raise AssertionError(f"the torch spline disagrees with revcore "
                                             f"({kind}, {shape}, {name})")
        zuko_calls = _zuko_calls(torch, x, knots, g, native) if torch is not None else {}
        for kind in ("forward", "inverse", "backward"):
            calls = {"revcore": native[kind], "numpy": numpy_calls[kind]}
            if kind in torch_calls:
                calls["torch"] = torch_calls[kind]
            if kind in zuko_calls:
                calls["zuko"] = zuko_calls[kind]
            out.append((f"rq_spline {kind}", shape, name, 0.0, calls))
    return out


def _zuko_calls(torch: Any, x: np.ndarray, knots: list[np.ndarray], g: np.ndarray,
                native: _Calls) -> _Calls:
    """zuko's MonotonicRQSTransform on the same knots (its knot tensors replaced by ours; it
    broadcasts shared knots itself), when zuko is installed and agrees with revcore: forward
    with log|det J|, inverse (x only: zuko's inverse gives no log-derivative), and autograd
    through the forward."""
    transforms = _optional("zuko.transforms")
    if transforms is None:
        return {}
    tx, tg0, tg1 = (torch.from_numpy(a) for a in (x, g[0], g[1]))
    tk = [torch.from_numpy(k) for k in knots]
    bins = knots[0].shape[-1] - 1

    def spline(tk: list[Any]) -> Any:
        zeros = torch.zeros(bins, dtype=tx.dtype)
        transform = transforms.MonotonicRQSTransform(zeros, zeros, zeros[1:])
        transform.horizontal, transform.vertical, transform.derivatives = tk
        return transform

    def backward() -> list[Any]:
        leaves = [a.detach().requires_grad_() for a in (tx, *tk)]
        y, ladj = spline(leaves[1:]).call_and_ladj(leaves[0])
        ((y * tg0).sum() + (ladj * tg1).sum()).backward()
        return [a.grad for a in leaves]

    calls: _Calls = {
        "forward": lambda: spline(tk).call_and_ladj(tx),
        "inverse": lambda: (spline(tk).inv(tx),),
        "backward": backward,
    }
    rtol = 1e-3 if x.dtype == np.float32 else 1e-9
    for kind in calls:
        ours = native[kind]()
        theirs = [t.detach().numpy() for t in calls[kind]()]
        for a, b in zip(ours, theirs):
            if not float(np.abs(a - b).max()) <= rtol * (float(np.abs(a).max()) + 1):
                return {}  # zuko computes something else here: no comparison
    return calls


def run(quick: bool = False, repeats: int = 7, threads: int = 1,
        progress: bool = True, only: str | None = None) -> list[Row]:
    """Time every case (or those whose operation contains ``only``) at ``threads`` threads
    (numpy's BLAS too, through threadpoolctl)."""
    threadpoolctl = _optional("threadpoolctl")
    torch = _optional("torch")
    limit = threadpoolctl.threadpool_limits(threads) if threadpoolctl else None
    if torch is not None:
        torch.set_num_threads(threads)
    rows = []
    try:
        with revcore.num_threads(threads):
            todo = [case for case in cases(quick, only) if only is None or only in case[0]]
            for i, (operation, shape, dtype, flops, calls) in enumerate(todo):
                if progress:
                    print(f"\r[{i + 1}/{len(todo)}] {operation} {shape} {dtype}".ljust(60),
                          end="", file=sys.stderr, flush=True)
                times = median_times(calls, repeats)
                ours = times.pop("revcore")
                rows.append(Row(operation, shape, dtype, flops, ours, times))
    finally:
        if limit is not None:
            limit.restore_original_limits()
        if progress:
            print(file=sys.stderr)
    return rows


def format_table(rows: list[Row], peak_per_core: dict[str, float], threads: int,
                 libraries: list[str] | None = None) -> str:
    """The rows as a text table; rows without a flop count (flops 0) get no GFLOP/s."""
    if libraries is None:
        libraries = sorted({name for row in rows for name in row.others})
    width = max([26] + [len(row.operation) for row in rows])
    with_flops = any(row.flops > 0 for row in rows)
    header = (f"{'operation':<{width}} {'shape':<24} {'dtype':<8} {'revcore':>10} "
              + " ".join(f"{name:>11} {'ratio':>6}" for name in libraries)
              + (f" {'GFLOP/s':>8} {'% peak':>7}" if with_flops else ""))
    lines = [header, "-" * len(header)]
    for row in rows:
        cells = []
        for name in libraries:
            if name in row.others:
                cells.append(f"{_time(row.others[name]):>11} "
                             f"{row.others[name] / row.revcore_seconds:>5.2f}x")
            else:
                mark = "FAIL" if row.notes.get(name, "").startswith("disagrees") else "-"
                cells.append(f"{mark:>11} {'':>6}")
        line = (f"{row.operation:<{width}} {row.shape:<24} {row.dtype:<8} "
                f"{_time(row.revcore_seconds):>10} " + " ".join(cells))
        if with_flops:
            if row.flops > 0:
                gflops = row.flops / row.revcore_seconds / 1e9
                peak = peak_per_core[row.dtype] * threads
                line += f" {gflops:>8.1f} {100 * gflops / peak:>6.0f}%"
            else:
                line += f" {'-':>8} {'-':>7}"
        lines.append(line)
    return "\n".join(lines)


def _time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def quiet_blas_environment(threads: int, environ: dict[str, str]) -> dict[str, str] | None:
    """The environment to run the benchmark again in, or None if this one will do.

    After each call OpenBLAS's idle threads busy-wait for about 2**28 cycles (0.1 s; its
    default), on the cores that revcore's next turn needs: at two threads this slowed
    revcore's 1024 float64 product by half when it followed numpy's. With
    ``OPENBLAS_THREAD_TIMEOUT=4`` they sleep at once. OpenBLAS reads it when it loads, so
    the command starts again with it set (unless the user set it)."""
    if threads == 1 or "OPENBLAS_THREAD_TIMEOUT" in environ:
        return None
    return {**environ, "OPENBLAS_THREAD_TIMEOUT": "4"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m revcore.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer, smaller shapes")
    parser.add_argument("--threads", type=int, default=1, help="threads for every library")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per case")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    parser.add_argument("--peak", type=float, nargs=2, metavar=("F32", "F64"),
                        help="peak GFLOP/s per core for the %% peak column (default: "
                             "measured at the start, independent vector FMA chains)")
    parser.add_argument("--peers", action="store_true",
                        help="instead of the kernels, time flow operations against PyTorch, "
                             "nflows, zuko and FrEIA (those installed), same weights, results "
                             "checked")
    parser.add_argument("--only", metavar="TEXT",
                        help="only the operations whose name contains TEXT")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    environment = quiet_blas_environment(args.threads, dict(os.environ))
    if argv is None and environment is not None:  # run as a command: start again
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, "-m", "revcore.bench", *sys.argv[1:]],
                  environment)
    peak = (dict(zip(("float32", "float64"), args.peak)) if args.peak
            else measured_peak_per_core())
    extra: dict[str, Any] = {}
    if args.peers:
        from . import _bench_peers  # imports the peers, only now

        rows, reasons = _bench_peers.run(args.quick, args.repeats, args.threads,
                                         not args.no_progress, args.only)
        for name, reason in reasons.items():
            print(f"{name}: skipped, {reason}")
        libraries = [name for name in _bench_peers.PEERS
                     if any(name in row.others or name in row.notes for row in rows)]
        extra["skipped"] = reasons
    else:
        rows = run(args.quick, args.repeats, args.threads, not args.no_progress,
                   args.only)
        libraries = None
    print(f"revcore {revcore.__version__}, {args.threads} thread(s), medians of "
          f"{args.repeats} (the libraries taking turns in each round); ratio = other's time / "
          "revcore's (> 1: revcore faster)")
    print(f"peak per core: float32 {peak['float32']:.1f}, float64 {peak['float64']:.1f} GFLOP/s"
          f" ({'given' if args.peak else 'measured: independent FMA chains'})")
    if "OPENBLAS_THREAD_TIMEOUT" in os.environ:
        print(f"OPENBLAS_THREAD_TIMEOUT={os.environ['OPENBLAS_THREAD_TIMEOUT']} (OpenBLAS's "
              "idle threads spin for about 2**that cycles before they sleep)")
    print(format_table(rows, peak, args.threads, libraries))
    if args.peers:
        notes = sorted({(name, reason) for row in rows for name, reason in row.notes.items()
                        if name not in extra["skipped"] and not reason.startswith("disagrees")})
        for name, reason in notes:
            print(f"  {name} -: {reason}")
        for row in rows:
            for name, reason in row.notes.items():
                if reason.startswith("disagrees"):
                    print(f"  {name} FAIL in {row.operation} {row.shape} {row.dtype}: {reason}")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"revcore": revcore.__version__, "threads": args.threads,
                       "machine": platform.machine(), "peak_per_core": peak,
                       "rows": [asdict(row) for row in rows], **extra}, file, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
