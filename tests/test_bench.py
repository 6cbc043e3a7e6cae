"""The benchmark command's machinery (the timings themselves live in benchmarks/)."""

import json
import sys

import numpy as np
import pytest

import revcore
from revcore import bench


def test_median_time_is_positive_and_ordered():
    fast = bench.median_time(lambda: None, repeats=3, min_time=0.001)
    slow = bench.median_time(lambda: sum(range(20000)), repeats=3, min_time=0.001)
    assert 0 < fast < slow


def test_libraries_take_turns_in_every_round():
    log = []
    calls = {name: (lambda name=name: log.append(name)) for name in ("revcore", "numpy", "scipy")}
    times = bench.median_times(calls, repeats=4, min_time=0.0)
    assert set(times) == set(calls) and all(t >= 0 for t in times.values())
    # each is called twice alone first (warm-up, then timing one call), then once per round
    assert log[:6] == ["revcore", "revcore", "numpy", "numpy", "scipy", "scipy"]
    assert log[6:] == ["revcore", "numpy", "scipy"] * 4


def test_table_and_json(tmp_path, monkeypatch, capsys):
    a = np.ones((8, 8))
    monkeypatch.setattr(bench, "cases", lambda quick, only=None: [
        ("matmul", "8x8x8", "float64", 2.0 * 8**3,
         {"revcore": lambda: revcore.matmul(a, a), "numpy": lambda: a @ a}),
    ])
    path = tmp_path / "bench.json"
    assert bench.main(["--repeats", "2", "--no-progress", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "matmul" in out and "numpy" in out and "% peak" in out
    assert "(measured: independent FMA chains)" in out
    data = json.loads(path.read_text())
    assert data["peak_per_core"]["float32"] > 0 and data["peak_per_core"]["float64"] > 0
    (row,) = data["rows"]
    assert row["operation"] == "matmul" and row["revcore_seconds"] > 0
    assert set(row["others"]) == {"numpy"}


@pytest.mark.parametrize("seconds, text", [(2.0, "2 s"), (0.0031, "3.1 ms"), (4e-6, "4 us")])
def test_time_format(seconds, text):
    assert bench._time(seconds) == text


def test_peers_quick_run_checks_every_peer(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    from revcore import _bench_peers

    all_cases = _bench_peers.cases

    def small_cases(quick, modules, reasons):
        # the smallest of the quick cases: one shape per dtype, a small training step, no fit
        for case in all_cases(True, modules, reasons):
            if case.shape == "256x64":
                yield case

    monkeypatch.setattr(_bench_peers, "cases", small_cases)
    path = tmp_path / "peers.json"
    assert bench.main(["--peers", "--quick", "--repeats", "1", "--no-progress",
                       "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "disagrees" not in out
    data = json.loads(path.read_text())
    operations = {row["operation"] for row in data["rows"]}
    assert {"inverse dense+leaky d8", "forward lu_dense d8", "log|det J| lu_dense d8",
            "train step (classifier net)"} <= operations
    for row in data["rows"]:
        assert row["revcore_seconds"] > 0 and row["others"], row
        assert set(row["others"]) == set(row["checks"])
        for name in row["others"]:
            tolerance = _bench_peers.TOLERANCE[row["dtype"]]
            assert row["checks"][name] <= tolerance
        # every peer is timed, or says why not
        assert set(_bench_peers.PEERS) <= set(row["others"]) | set(row["notes"]) | set(
            data["skipped"])
    step = [row for row in data["rows"] if row["operation"].startswith("train step")]
    assert {row["dtype"] for row in step} == {"float32", "float64"}
    assert all("torch" in row["others"] for row in step)


def test_freia_is_checked_and_timed_on_every_stack(monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("FrEIA")
    from revcore import _bench_peers

    all_cases = _bench_peers.cases

    def small_stacks(quick, modules, reasons):
        for case in all_cases(True, modules, reasons):
            if case.shape == "256x64" and case.operation.endswith(f" d{_bench_peers.DEPTH}"):
                yield case

    monkeypatch.setattr(_bench_peers, "cases", small_stacks)
    rows, reasons = _bench_peers.run(quick=True, repeats=1, progress=False)
    assert "FrEIA" not in reasons
    # forward, inverse and log|det J|, of both stacks, in both dtypes
    assert len(rows) == 12
    for row in rows:
        # a disagreeing FrEIA would have a note instead of a time
        assert "FrEIA" in row.others, (row.operation, row.dtype, row.notes.get("FrEIA"))
        assert row.checks["FrEIA"] <= _bench_peers.TOLERANCE[row.dtype]


def test_a_flow_library_that_cannot_be_imported_is_skipped_with_a_reason(monkeypatch):
    from revcore import _bench_peers

    monkeypatch.setitem(sys.modules, "FrEIA", None)  # makes `import FrEIA` fail
    modules, reasons = _bench_peers.load_peers()
    assert "FrEIA" not in modules and reasons["FrEIA"]


def test_peer_that_disagrees_is_reported_not_timed(monkeypatch, capsys):
    pytest.importorskip("torch")
    from revcore import _bench_peers

    def one_case(quick, modules, reasons):
        case = _bench_peers.PeerCase("toy", "3", "float64", lambda: None,
                                     lambda: [np.array([1.0, 2.0, 3.0])])
        case.peers["torch"] = _bench_peers.Peer(lambda: None,
                                                lambda: [np.array([1.0, 2.0, 3.1])])
        yield case

    monkeypatch.setattr(_bench_peers, "cases", one_case)
    rows, _ = _bench_peers.run(repeats=1, progress=False)
    (row,) = rows
    assert row.others == {} and row.notes["torch"].startswith("disagrees")
    assert bench.format_table(rows, {"float32": 100.0, "float64": 50.0}, 1, ["torch"]).count("FAIL") == 1


def test_disagreement():
    from revcore._bench_peers import disagreement

    a = [np.array([1.0, -4.0]), np.array(2.0)]
    assert disagreement(a, [np.array([1.0, -4.0]), np.array(2.0)]) == 0
    assert disagreement(a, [np.array([1.0, -3.0]), np.array(2.0)]) == pytest.approx(0.25)
    assert disagreement(a, [np.array([1.0, -4.0])]) == np.inf
    assert disagreement(a, [np.array([1.0, np.nan]), np.array(2.0)]) == np.inf


def test_fma_peak_is_measured_per_dtype():
    from revcore import _core

    peaks = {dtype: _core.fma_peak(dtype, 0.005, 3) for dtype in ("float32", "float64")}
    # any x86-64 of the last twenty years does at least one FMA or multiply-add per cycle
    # at >= 1 GHz; at most 2 FMA units x 16 float lanes x 2 flops at <= 7 GHz
    assert all(1.0 <= p <= 2 * 16 * 2 * 7.0 for p in peaks.values()), peaks
    # float lanes: twice as many per vector as double lanes, or as many in scalar code
    assert peaks["float32"] >= 0.8 * peaks["float64"]


@pytest.mark.parametrize("args, message", [
    (("float16",), "dtype must be 'float32' or 'float64'"),
    (("float32", 0.0), r"seconds must be in \(0, 10\]"),
    (("float32", 11.0), r"seconds must be in \(0, 10\]"),
    (("float64", 0.01, 0), r"repeats must be in \[1, 1000\]"),
])
def test_fma_peak_refuses_bad_arguments(args, message):
    from revcore import _core

    with pytest.raises(ValueError, match=message):
        _core.fma_peak(*args)


def test_given_peak_is_used_as_it_is(monkeypatch, capsys):
    a = np.ones((4, 4))
    monkeypatch.setattr(bench, "cases", lambda quick, only=None: [
        ("matmul", "4x4x4", "float64", 2.0 * 4**3,
         {"revcore": lambda: revcore.matmul(a, a), "numpy": lambda: a @ a}),
    ])
    assert bench.main(["--repeats", "1", "--no-progress", "--peak", "30", "15"]) == 0
    assert "float32 30.0, float64 15.0 GFLOP/s (given)" in capsys.readouterr().out


def test_only_builds_the_chosen_operations():
    chosen = bench.cases(quick=True, only="lu_solve")
    assert chosen and {case[0] for case in chosen} == {"lu_solve"}
    splines = {case[0] for case in bench.cases(quick=True, only="rq_spline inverse")}
    assert "rq_spline inverse" in splines and "matmul" not in splines
    assert bench.cases(quick=True, only="no such operation") == []


def test_openblas_threads_sleep_between_turns_at_two_threads():
    environ = {"PATH": "/bin"}
    assert bench.quiet_blas_environment(1, environ) is None
    quiet = bench.quiet_blas_environment(2, environ)
    assert quiet == {"PATH": "/bin", "OPENBLAS_THREAD_TIMEOUT": "4"}
    assert environ == {"PATH": "/bin"}  # the caller's mapping is left alone
    # a value the user chose is kept: no second start
    assert bench.quiet_blas_environment(2, {"OPENBLAS_THREAD_TIMEOUT": "28"}) is None
