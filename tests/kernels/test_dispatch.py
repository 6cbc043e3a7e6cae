"""Every kernel path compiled into the extension is checked on this machine.

The path (REVCORE_ARCH) is read once per process, so each runs in a subprocess.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import revcore

PATHS = ["generic", "avx2", "avx512"]
ORDER = {name: i for i, name in enumerate(PATHS)}


@pytest.mark.parametrize("path", PATHS)
def test_kernel_path_matches_reference(path):
    best = revcore._core.build_info()["kernel"]
    if "REVCORE_ARCH" not in os.environ and ORDER[path] > ORDER[best]:
        pytest.skip(f"this CPU runs {best} at best")
    env = dict(os.environ, REVCORE_ARCH=path)
    script = Path(__file__).with_name("dispatch_check.py")
    result = subprocess.run([sys.executable, str(script), path], env=env, capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_unknown_path_falls_back_to_best():
    env = dict(os.environ, REVCORE_ARCH="sse9")
    code = "import revcore; print(revcore._core.build_info()['kernel'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout.strip()
    env.pop("REVCORE_ARCH")
    best = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120, check=True).stdout.strip()
    assert out == best
