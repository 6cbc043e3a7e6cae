"""Benchmarks: each group times revcore and its numpy/scipy counterpart in one run.

At the end of the session a table gives, per group, each entry's median time relative to
revcore's (``ratio`` > 1 means revcore is faster).
"""

import functools

import pytest

from revcore.bench import measured_peak_per_core

# Peak GFLOP/s per core for the one-thread comparisons here, measured once (independent
# vector FMA chains with revcore's kernels), as revcore.bench does without --peak.
peak_per_core = functools.cache(measured_peak_per_core)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    groups = {}
    for bench in session.benchmarks:
        if bench.stats is None or not bench.stats.rounds:
            continue
        groups.setdefault(bench.group, []).append(bench)
    terminalreporter.section("revcore speed ratios (baseline median / revcore median)")
    for group, benches in sorted(groups.items()):
        ours = [b for b in benches if (b.params or {}).get("library") == "revcore"]
        if not ours:
            continue
        base = ours[0].stats.median
        parts = [
            f"{(b.params or {}).get('library', b.name)}: {b.stats.median / base:.2f}x"
            for b in benches if b is not ours[0]
        ]
        info = ours[0].extra_info or {}
        if "flops" in info:
            gflops = info["flops"] / base / 1e9
            peak = peak_per_core()[info["dtype"]]
            parts.append(f"revcore {gflops:.1f} GFLOP/s = {100 * gflops / peak:.0f}% of peak")
        terminalreporter.write_line(f"{group:<40} {'  '.join(parts)}")


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Compare at one thread: numpy's BLAS limited with threadpoolctl when installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    import revcore

    previous = revcore.get_num_threads()
    revcore.set_num_threads(1)
    with threadpool_limits(1):
        yield
    revcore.set_num_threads(previous)
