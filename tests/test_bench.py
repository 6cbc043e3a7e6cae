"""The benchmark command's machinery (the timings themselves live in benchmarks/)."""

import json

import numpy as np
import pytest
import revcore
from revcore import bench


def test_median_time_is_positive_and_ordered():
    fast = bench.median_time(lambda: None, repeats=3, min_time=0.001)
    slow = bench.median_time(lambda: sum(range(20000)), repeats=3, min_time=0.001)
    assert 0 < fast < slow


def test_table_and_json(tmp_path, monkeypatch, capsys):
    a = np.ones((8, 8))
    monkeypatch.setattr(bench, "cases", lambda quick: [
        ("matmul", "8x8x8", "float64", 2.0 * 8**3,
         {"revcore": lambda: revcore.matmul(a, a), "numpy": lambda: a @ a}),
    ])
    path = tmp_path / "bench.json"
    assert bench.main(["--repeats", "2", "--no-progress", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "matmul" in out and "numpy" in out and "% peak" in out
    data = json.loads(path.read_text())
    (row,) = data["rows"]
    assert row["operation"] == "matmul" and row["revcore_seconds"] > 0
    assert set(row["others"]) == {"numpy"}


@pytest.mark.parametrize("seconds, text", [(2.0, "2 s"), (0.0031, "3.1 ms"), (4e-6, "4 us")])
def test_time_format(seconds, text):
    assert bench._time(seconds) == text
