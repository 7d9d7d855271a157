"""The lab's nsenter connection: its PID cache check against the real /proc of this machine.

Against a real container the plugin runs every task of the Molecule aio scenario and scripts/lab.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "lab" / "connection_plugins"))

import lab_nsenter  # noqa: E402


def test_start_time_of_a_live_process_is_stable():
    first = lab_nsenter.process_start_time(os.getpid())
    assert first is not None and first.isdigit()
    assert lab_nsenter.process_start_time(os.getpid()) == first


def test_start_time_of_a_process_with_spaces_in_its_name(tmp_path):
    # A command name "a b) c" would shift the fields of a naive split.
    odd = tmp_path / "a b) c"
    odd.symlink_to("/bin/sleep")
    child = subprocess.Popen([str(odd), "30"])
    try:
        stat = Path(f"/proc/{child.pid}/stat").read_text()
        assert "a b) c" in stat
        want = stat.rsplit(")", 1)[1].split()[19]
        assert lab_nsenter.process_start_time(child.pid) == want
    finally:
        child.kill()
        child.wait()


def test_start_time_of_a_gone_process_is_none():
    child = subprocess.Popen(["true"])
    child.wait()
    assert lab_nsenter.process_start_time(child.pid) is None
