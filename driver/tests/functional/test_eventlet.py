"""The driver under eventlet monkey-patching, with the eventlet and threading executors.

Monkey-patching is process-wide, so each scenario runs in its own process
(green_scenario.py) and reports JSON that is asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "green_scenario.py")


@pytest.mark.parametrize("executor", ["eventlet", "threading"])
def test_monkey_patched_process(url, executor):
    proc = subprocess.run(
        [sys.executable, SCRIPT, url, executor],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["echo"] == list(range(50))
    assert result["casts"] == list(range(50))
    assert result["during_long"] == list(range(5))
    # the hub was not blocked: short calls returned while the 4 s call ran
    assert result["during_long_elapsed"] < 3
    assert result["long"] == 4
    assert result["notifications"] == list(range(10))
