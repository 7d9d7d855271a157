"""Verify the libzmq role: package present, pyzmq loads libzmq >= 4.3, a real REQ/REP round trip."""

import json

# The Python each host's pyzmq was installed into (mirrors molecule.yml host_vars).
PYTHONS = {
    "libzmq-system": "/usr/bin/python3",
    "libzmq-venv": "/opt/zmq-test/venv/bin/python",
}

# Binds REP to a kernel-chosen loopback port, sends from REQ, and prints what came back.
ROUND_TRIP = r"""
import json, threading, zmq
ctx = zmq.Context()
rep = ctx.socket(zmq.REP)
port = rep.bind_to_random_port("tcp://127.0.0.1")
def serve():
    msg = rep.recv()
    rep.send(b"pong:" + msg)
worker = threading.Thread(target=serve)
worker.start()
req = ctx.socket(zmq.REQ)
req.setsockopt(zmq.RCVTIMEO, 5000)
req.setsockopt(zmq.LINGER, 0)
req.connect("tcp://127.0.0.1:%d" % port)
req.send(b"ping")
print(json.dumps({"port": port, "reply": req.recv().decode()}))
worker.join()
"""


def _python(host) -> str:
    return PYTHONS[host.backend.get_hostname()]


def test_libzmq_package_installed(host):
    assert host.package("libzmq5").is_installed


def test_pyzmq_loads_recent_libzmq(host):
    out = host.check_output(_python(host) + " -c 'import zmq; print(zmq.zmq_version())'")
    major, minor = (int(part) for part in out.strip().split(".")[:2])
    assert (major, minor) >= (4, 3), out


def test_req_rep_round_trip_on_loopback(host):
    script = host.run(_python(host) + " - <<'EOF'\n" + ROUND_TRIP + "\nEOF")
    assert script.rc == 0, script.stderr
    result = json.loads(script.stdout.strip().splitlines()[-1])
    assert result["reply"] == "pong:ping"
    assert result["port"] > 0


def test_pyzmq_comes_from_the_configured_environment(host):
    on_system = host.backend.get_hostname() == "libzmq-system"
    assert host.package("python3-zmq").is_installed == on_system
    assert host.file("/opt/zmq-test/venv/bin/python").exists != on_system
