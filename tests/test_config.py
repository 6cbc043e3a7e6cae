"""Thread control (revcore's own, threadpoolctl's) and the build report."""

import pytest

import revcore


def test_thread_count_controls():
    before = revcore.get_num_threads()
    with revcore.num_threads(1):
        assert revcore.get_num_threads() == 1
    assert revcore.get_num_threads() == before
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            revcore.set_num_threads(bad)


def test_show_config(capsys):
    revcore.show_config()
    out = capsys.readouterr().out
    assert out.startswith(f"revcore {revcore.__version__}")
    assert "kernels:" in out and f"threads: {revcore.get_num_threads()}" in out


def test_threadpoolctl_controls_revcore_threads():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    info = [d for d in threadpoolctl.threadpool_info() if d["user_api"] == "revcore"]
    assert len(info) == 1 and info[0]["num_threads"] == revcore.get_num_threads()
    before = revcore.get_num_threads()
    with threadpoolctl.threadpool_limits(1, user_api="revcore"):
        assert revcore.get_num_threads() == 1
    assert revcore.get_num_threads() == before
