# Copyright: zeromq.openstack maintainers
# Apache License 2.0 (see galaxy.yml)
"""Lab scaffolding (not shipped): reach a local podman container by nsenter, with pipelining.

containers.podman.podman runs four or five `podman exec`/`podman cp` per task (about 0.2 s each
on an idle machine, much more under load) and cannot pipeline. Entering the container's
namespaces directly costs a few milliseconds, and stdin passes straight through, so a module is
piped in one process. Only `podman inspect` is left, once per container start: its systemd's PID
is cached on disk and checked against the process start time before each use.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.module_utils.common.process import get_bin_path
from ansible.plugins.connection import ConnectionBase
from ansible.utils.display import Display

DOCUMENTATION = r"""
name: lab_nsenter
short_description: Run tasks in a local podman container through nsenter (lab scaffolding)
description:
  - Enters the mount, UTS, IPC, network, PID and cgroup namespaces of the container's first
    process with nsenter; modules are piped to the interpreter (pipelining).
  - Needs root on the controller (nsenter) and a running container on the same machine.
author: zeromq.openstack maintainers
options:
  remote_addr:
    description: Name or ID of the container.
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
  podman_executable:
    description: podman binary used to look up the container's PID.
    default: podman
    vars:
      - name: ansible_podman_executable
    env:
      - name: ANSIBLE_PODMAN_EXECUTABLE
  pipelining:
    description: Pipe modules to the interpreter instead of copying them.
    type: boolean
    default: true
    vars:
      - name: ansible_pipelining
"""

display = Display()

# What `podman exec` gives a root process in the lab's Debian images; the controller's own
# environment must not leak into the container.
CONTAINER_ENV = (
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "container=podman",
)
NAMESPACES = ("--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup")


def process_start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks), or None when PID is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            # The command name (field 2) may hold spaces; it ends at the last ')'.
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


class Connection(ConnectionBase):
    """nsenter into a local container; see the module docstring."""

    transport = "lab_nsenter"
    has_pipelining = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pid: int | None = None

    def _cache_path(self, container: str) -> str:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in container)
        return os.path.join(tempfile.gettempdir(), f"zmqos-lab-nsenter-{os.getuid()}", safe)

    def _lookup_pid(self, container: str) -> int:
        path = self._cache_path(container)
        try:
            with open(path, encoding="ascii") as cached:
                entry = json.load(cached)
            if process_start_time(entry["pid"]) == entry["start"]:
                return entry["pid"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
        podman = get_bin_path(self.get_option("podman_executable"))
        done = subprocess.run(
            [podman, "inspect", "--type", "container", "--format", "{{.State.Pid}}", container],
            capture_output=True,
            text=True,
            check=False,
        )
        pid = int(done.stdout.strip() or 0) if done.returncode == 0 else 0
        if pid <= 0:
            raise AnsibleConnectionFailure(
                f"lab_nsenter: container {container} is not running on this machine "
                f"(podman inspect: {done.stderr.strip() or 'no PID'})"
            )
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
        with os.fdopen(fd, "w", encoding="ascii") as out:
            json.dump({"pid": pid, "start": process_start_time(pid)}, out)
        os.replace(tmp, path)
        return pid

    def _connect(self):
        if not self._connected:
            if os.geteuid() != 0:
                raise AnsibleConnectionFailure(
                    "lab_nsenter needs root on the controller (nsenter); "
                    "use ansible_connection=containers.podman.podman otherwise"
                )
            self._pid = self._lookup_pid(self.get_option("remote_addr"))
            self._connected = True
        return self

    def _enter(self, argv: list[str]) -> list[str]:
        return [
            "nsenter",
            "--target",
            str(self._pid),
            *NAMESPACES,
            "--",
            "/usr/bin/env",
            "-i",
            *CONTAINER_ENV,
            *argv,
        ]

    def _run(
        self, argv: list[str], in_data: bytes | None = None, stdin=None
    ) -> tuple[int, bytes, bytes]:
        display.vvv(f"NSENTER {argv}", host=self.get_option("remote_addr"))
        proc = subprocess.Popen(
            self._enter(argv),
            stdin=stdin if stdin is not None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        stdout, stderr = proc.communicate(in_data)
        return proc.returncode, stdout, stderr

    def exec_command(self, cmd, in_data=None, sudoable=True):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        self._connect()
        return self._run(shlex.split(cmd), in_data=in_data or b"")

    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        self._connect()
        # Written from inside: a path through /proc/PID/root would follow the container's
        # absolute symlinks on the controller.
        with open(in_path, "rb") as src:
            rc, _, stderr = self._run(["/bin/sh", "-c", 'cat > "$1"', "sh", out_path], stdin=src)
        if rc != 0:
            raise AnsibleError(
                f"lab_nsenter: cannot write {out_path}: {stderr.decode(errors='replace')}"
            )

    def fetch_file(self, in_path, out_path):
        super().fetch_file(in_path, out_path)
        self._connect()
        with open(out_path, "wb") as dest:
            proc = subprocess.Popen(
                self._enter(["cat", in_path]), stdout=dest, stderr=subprocess.PIPE
            )
            _, stderr = proc.communicate()
        if proc.returncode != 0:
            raise AnsibleError(
                f"lab_nsenter: cannot read {in_path}: {stderr.decode(errors='replace')}"
            )

    def close(self):
        self._connected = False
