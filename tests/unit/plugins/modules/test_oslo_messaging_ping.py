# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""oslo_messaging_ping against a real zmq proxy and a real oslo.messaging service on 127.0.0.1.

One proxy (CURVE, keys made by curve_keypair) and one service process (ping_service.py: two RPC
servers of one topic and a notification listener) serve every test of this file. The module runs
its helper with this interpreter, which has oslo.messaging and the driver.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from ansible_collections.zeromq.openstack.plugins.modules import (
    curve_keypair,
    oslo_messaging_ping,
)

pytest.importorskip("oslo_messaging")
pytest.importorskip("oslo_messaging_zmq")

LOOPBACK = "127.0.0.1"
PYTHON = sys.executable
TOPIC = "ping_test"
NOTIFY_TOPIC = "ping_notifications"
SERVICE = Path(__file__).with_name("ping_service.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Lab:
    """Keys, a proxy, a service and its config file, all under one scratch directory."""

    def __init__(self, work: Path, run_module) -> None:
        self.work = work
        self.run_module = run_module
        self.port = free_port()
        self.health_port = free_port()
        self.events = work / "events.jsonl"
        self.procs: list[subprocess.Popen] = []
        keys = work / "keys"
        self.proxy_key = self.keypair(keys, "proxy")
        self.client_key = self.keypair(keys, "client")
        allowed = work / "allowed"
        allowed.mkdir()
        shutil.copy(keys / "client.key", allowed / "client.key")
        self.proxy_conf = self.write(
            "proxy.conf",
            "[zmq_proxy]",
            f"bind_address = {LOOPBACK}",
            f"port = {self.port}",
            f"health_address = {LOOPBACK}",
            f"health_port = {self.health_port}",
            "security_mode = curve",
            f"server_secret_key_file = {keys / 'proxy.key_secret'}",
            f"allowed_clients = {allowed}",
        )
        self.service_conf = self.service_config("service.conf", keys / "client.key_secret")

    def keypair(self, directory: Path, name: str) -> dict:
        result = self.run_module(curve_keypair, {"path": str(directory), "name": name})
        assert result["changed"], result
        return result

    def write(self, name: str, *lines: str) -> str:
        path = self.work / name
        path.write_text("\n".join(lines) + "\n")
        return str(path)

    def service_config(self, name: str, client_secret: Path, userinfo: str = "") -> str:
        # heartbeat_interval: a fresh transport may wait one interval before its first send.
        return self.write(
            name,
            "[DEFAULT]",
            f"transport_url = zmq://{userinfo}{LOOPBACK}:{self.port}/",
            "rpc_ping_enabled = true",
            "[oslo_messaging_notifications]",
            "driver = messagingv2",
            f"topics = {NOTIFY_TOPIC}",
            "[oslo_messaging_zmq]",
            "security_mode = curve",
            f"client_secret_key_file = {client_secret}",
            f"server_public_key_file = {self.work / 'keys' / 'proxy.key'}",
            "heartbeat_interval = 0.2",
            "connect_timeout = 3",
        )

    def start(self) -> None:
        log = open(self.work / "proxy.log", "ab")  # noqa: SIM115 - handed to the child
        proxy = subprocess.Popen(
            [PYTHON, "-m", "oslo_messaging_zmq.proxy", "--config-file", self.proxy_conf],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.procs.append(proxy)
        self.wait_healthy(proxy)
        service_log = open(self.work / "service.log", "ab")  # noqa: SIM115
        service = subprocess.Popen(
            [
                PYTHON,
                str(SERVICE),
                "--config-file",
                self.service_conf,
                "--topic",
                TOPIC,
                "--servers",
                "s1,s2",
                "--events",
                str(self.events),
            ],
            stdout=subprocess.PIPE,
            stderr=service_log,
            text=True,
        )
        service_log.close()
        self.procs.append(service)
        ready, _w, _x = select.select([service.stdout], [], [], 20)
        line = service.stdout.readline() if ready else ""
        assert line.strip() == "READY", self.logs()
        # Registrations reach the proxy asynchronously: wait until it routes to every target.
        deadline = time.monotonic() + 15
        while not self.registered():
            assert time.monotonic() < deadline, (self.metrics(), self.logs())
            time.sleep(0.1)

    def metrics(self) -> dict:
        url = f"http://{LOOPBACK}:{self.health_port}/stats"
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return json.loads(response.read())

    def registered(self) -> bool:
        """Both RPC servers and the notification listener are known to the proxy."""
        targets = self.metrics().get("targets", {})
        rpc = max((e.get("listeners", 0) for k, e in targets.items() if TOPIC in k), default=0)
        notify = any(NOTIFY_TOPIC in k and e.get("listeners") for k, e in targets.items())
        return rpc >= 2 and notify

    def wait_healthy(self, proxy: subprocess.Popen) -> None:
        url = f"http://{LOOPBACK}:{self.health_port}/healthz"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert proxy.poll() is None, self.logs()
            try:
                with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("proxy not healthy: " + self.logs())

    def logs(self) -> str:
        parts = []
        for name in ("proxy.log", "service.log"):
            path = self.work / name
            if path.exists():
                parts.append(f"--- {name}\n{path.read_text()[-3000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            stop_process(proc)

    def ping(self, check_mode: bool = False, config: str | None = None, **options) -> dict:
        args = {
            "config_files": [config or self.service_conf],
            "python": PYTHON,
            "topic": TOPIC,
            "timeout": 5,
            **options,
        }
        args = {key: value for key, value in args.items() if value is not None}
        return self.run_module(oslo_messaging_ping, args, check_mode=check_mode)

    def wait_events(self, marker: str, count: int, timeout: float = 10) -> list[dict]:
        deadline = time.monotonic() + timeout
        found: list[dict] = []
        while time.monotonic() < deadline:
            if self.events.exists():
                lines = self.events.read_text().splitlines()
                found = [e for e in map(json.loads, lines) if marker in json.dumps(e)]
                if len(found) >= count:
                    # a little longer, to catch duplicates
                    time.sleep(0.3)
                    lines = self.events.read_text().splitlines()
                    return [e for e in map(json.loads, lines) if marker in json.dumps(e)]
            time.sleep(0.05)
        return found


@pytest.fixture(scope="module")
def lab(tmp_path_factory, run_module):
    started = Lab(tmp_path_factory.mktemp("ping"), run_module)
    try:
        started.start()
        yield started
    finally:
        started.stop()


def marker() -> str:
    return uuid.uuid4().hex


# -- RPC calls -------------------------------------------------------------------


def test_call_is_answered_with_latency(lab):
    result = lab.ping(count=3)
    assert result["ok"] is True
    assert result["changed"] is False
    assert "failed" not in result
    assert result["result"] == "pong"
    assert result["error"] is None
    assert result["succeeded"] == 3
    assert len(result["latencies_ms"]) == 3
    assert 0 < result["latency_min_ms"] <= result["latency_ms"] <= result["latency_max_ms"]
    assert result["latency_max_ms"] < 5000
    assert result["transport"] == f"zmq://{LOOPBACK}:{lab.port}/"
    assert result["msg"] == f"call to topic {TOPIC}: 3 of 3 answered"


def test_check_mode_call_to_one_server_with_arguments_and_exchange(lab):
    # check mode still sends: the module only probes
    result = lab.ping(
        check_mode=True, method="echo", server="s2", exchange="openstack", args={"n": 7, "s": "x"}
    )
    assert result["ok"] is True, result
    assert result["changed"] is False
    assert result["result"] == {"server": "s2", "kwargs": {"n": 7, "s": "x"}}
    assert result["msg"] == f"call to topic {TOPIC} server s2 (exchange openstack): 1 of 1 answered"


def test_remote_error_fails_with_its_class(lab):
    result = lab.ping(method="fail")
    assert result["failed"] is True
    assert result["ok"] is False
    assert result["error"] == "ValueError"
    assert result["stage"] == "send"
    assert result["msg"] == f"call to topic {TOPIC} failed after 0 of 1: ValueError: asked to fail"
    assert result["latency_ms"] is None


def test_no_such_method_hints_at_rpc_ping_enabled():
    answer = {
        "ok": False,
        "error": "NoSuchMethod",
        "msg": "Endpoint does not support RPC method oslo_rpc_server_ping",
        "stage": "send",
        "latencies_ms": [],
    }
    params = {
        "kind": "call",
        "topic": "conductor",
        "server": None,
        "exchange": None,
        "method": "oslo_rpc_server_ping",
        "count": 1,
    }
    result = oslo_messaging_ping.summarize(params, answer)
    assert result["ok"] is False
    assert result["msg"].endswith("(the server needs rpc_ping_enabled = true in [DEFAULT])")


def test_unserved_topic_times_out_and_passwords_are_masked(lab):
    # the zmq driver ignores credentials in the URL, which makes it a handy check of the masking
    client_secret = lab.work / "keys" / "client.key_secret"
    config = lab.service_config("password.conf", client_secret, userinfo="nova:s3cret@")
    result = lab.ping(config=config, topic="nobody_serves_this", timeout=1, fail_on_error=False)
    assert "failed" not in result
    assert result["ok"] is False
    assert result["error"] == "MessagingTimeout"
    assert "call to topic nobody_serves_this failed after 0 of 1" in result["msg"]
    assert result["succeeded"] == 0
    assert result["transport"] == f"zmq://nova:****@{LOOPBACK}:{lab.port}/"
    assert "s3cret" not in json.dumps(result)


# -- casts, fanout and notifications ---------------------------------------------------


def test_cast_reaches_one_server(lab):
    tag = marker()
    result = lab.ping(kind="cast", method="record", args={"tag": tag})
    assert result["ok"] is True, result
    assert result["result"] is None
    assert result["msg"] == f"cast to topic {TOPIC}: 1 of 1 accepted"
    events = lab.wait_events(tag, 1)
    assert len(events) == 1
    assert events[0]["server"] in ("s1", "s2")


def test_fanout_reaches_every_server(lab):
    tag = marker()
    result = lab.ping(kind="fanout", method="record", args={"tag": tag})
    assert result["ok"] is True, result
    events = lab.wait_events(tag, 2)
    assert sorted(e["server"] for e in events) == ["s1", "s2"]


def test_notification_reaches_the_listener(lab):
    tag = marker()
    result = lab.ping(
        kind="notify",
        topic=None,
        notify_priority="error",
        publisher_id="compute.test-host",
        event_type="zeromq.openstack.test",
        args={"tag": tag},
        count=2,
    )
    assert result["ok"] is True, result
    assert result["succeeded"] == 2
    assert result["msg"] == "notification to the configured notification topics: 2 of 2 accepted"
    events = lab.wait_events(tag, 2)
    assert len(events) == 2
    for event in events:
        assert event["kind"] == "notification"
        assert event["priority"] == "error"
        assert event["publisher_id"] == "compute.test-host"
        assert event["event_type"] == "zeromq.openstack.test"
        assert event["payload"] == {"tag": tag}


def test_notifications_disabled_in_the_config(lab):
    config = lab.write(
        "no-notifications.conf",
        "[DEFAULT]",
        f"transport_url = zmq://{LOOPBACK}:{lab.port}/",
        "[oslo_messaging_zmq]",
        "security_mode = curve",
        f"client_secret_key_file = {lab.work / 'keys' / 'client.key_secret'}",
        f"server_public_key_file = {lab.work / 'keys' / 'proxy.key'}",
    )
    result = lab.ping(config=config, kind="notify", topic=None)
    assert result["failed"] is True
    assert result["error"] == "NotificationsDisabled"


# -- security and bad input ------------------------------------------------------------


def test_unknown_client_key_is_refused(lab):
    stranger = lab.keypair(lab.work / "stranger", "stranger")
    config = lab.service_config("stranger.conf", Path(stranger["secret_key_file"]))
    denied_before = lab.metrics()["counters"].get("auth_denied", 0)
    result = lab.ping(config=config, timeout=2)
    assert result["failed"] is True
    assert result["ok"] is False
    assert result["error"] == "MessagingTimeout"
    assert lab.metrics()["counters"].get("auth_denied", 0) > denied_before


def test_missing_config_file_is_named(lab):
    missing = str(lab.work / "does-not-exist.conf")
    result = lab.ping(config=missing)
    assert result["failed"] is True
    assert result["msg"] == f"config file {missing} does not exist or is not a file"


def test_unparsable_config_file_is_named(lab):
    config = lab.write("broken.conf", "[DEFAULT", "transport_url = zmq://127.0.0.1:1/")
    result = lab.ping(config=config, fail_on_error=False)
    assert result["failed"] is True
    assert result["stage"] == "config"
    assert config in result["msg"]


def test_interpreter_without_oslo_messaging(lab):
    python = "/usr/bin/python3"
    probe = subprocess.run([python, "-I", "-c", "import oslo_messaging"], check=False)
    if probe.returncode == 0:
        pytest.skip(f"{python} has oslo.messaging")
    result = lab.ping(python=python)
    assert result["failed"] is True
    assert result["stage"] == "import"
    assert "cannot import oslo_messaging" in result["msg"]


def test_missing_interpreter(lab):
    result = lab.ping(python=str(lab.work / "no-python"))
    assert result["failed"] is True
    assert "does not exist or is not executable" in result["msg"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"topic": None}, "kind is call but all of the following are missing: topic"),
        ({"topic": ""}, "topic is required for kind call"),
        ({"kind": "fanout", "server": "s1"}, "server applies to kind call and cast"),
        ({"count": 0}, "count must be at least 1"),
        ({"timeout": 0}, "timeout must be greater than 0"),
        ({"kind": "bogus"}, "value of kind must be one of"),
    ],
)
def test_bad_arguments(lab, options, message):
    result = lab.ping(**options)
    assert result["failed"] is True
    assert message in result["msg"]


# -- the helper's URL masking ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("zmq://p1:9501,p2:9501/", "zmq://p1:9501,p2:9501/"),
        ("zmq://zmq@p1:9501,zmq@p2:9501/", "zmq://zmq@p1:9501,zmq@p2:9501/"),
        ("rabbit://nova:s3cret@h1:5672/", "rabbit://nova:****@h1:5672/"),
        (
            "rabbit://nova:s3cret@h1:5672,nova:s3cret@h2:5672/nova?ssl=1",
            "rabbit://nova:****@h1:5672,nova:****@h2:5672/nova?ssl=1",
        ),
        ("zmq://h1/?security_mode=plain&password=x", "zmq://h1/?security_mode=plain&password=****"),
        (None, None),
    ],
)
def test_transport_url_passwords_are_masked(url, masked):
    namespace = {"__name__": "helper_under_test"}
    exec(compile(oslo_messaging_ping.HELPER, "helper", "exec"), namespace)  # noqa: S102
    assert namespace["mask_url"](url) == masked


def test_library_link_points_at_the_module():
    root = oslo_messaging_ping.__file__.rsplit(os.sep + "plugins" + os.sep, 1)[0]
    link = os.path.join(root, "library", "oslo_messaging_ping.py")
    if not os.path.lexists(link):
        pytest.skip("no library/ in this tree (installed collection)")
    assert os.readlink(link) == "../plugins/modules/oslo_messaging_ping.py"
    assert os.path.samefile(link, oslo_messaging_ping.__file__)
