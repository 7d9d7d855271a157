"""CURVE: a client whose key the proxies do not know gets nothing through; known ones do."""

from __future__ import annotations

import time

from conftest import (
    PROXIES,
    RPC_LOG,
    RPC_TOPIC,
    SERVICE_CONF,
    lines_with,
    proxy_counters,
    token,
    wait_for,
)

INTRUDER_DIR = "/tmp/zmqos-intruder"
KEYGEN = "/opt/testsvc/venv/bin/oslo-messaging-zmq-keygen"


def _denied(nodes) -> int:
    return sum(proxy_counters(nodes[name])["counters"]["auth_denied"] for name in PROXIES)


def test_unknown_curve_key_is_refused(ready):
    svc1, svc2 = ready["zmq-svc1"], ready["zmq-svc2"]
    secret = f"{INTRUDER_DIR}/intruder.key_secret"
    conf = f"{INTRUDER_DIR}/testsvc.conf"
    svc1.check_output("rm -rf %s", INTRUDER_DIR)
    svc1.check_output("%s --out-dir %s --name intruder", KEYGEN, INTRUDER_DIR)
    try:
        # The service's own config, with only the client key swapped for the new one.
        expression = f"s#^client_secret_key_file *=.*#client_secret_key_file = {secret}#"
        svc1.check_output("sed %s %s > %s", expression, SERVICE_CONF, conf)
        assert svc1.ini(conf).get("oslo_messaging_zmq", "client_secret_key_file") == secret
        before = _denied(ready)

        refused = svc1.ping(
            config_files=[conf],
            kind="call",
            topic=RPC_TOPIC,
            server="zmq-svc2",
            method="echo",
            args={"value": "intruder"},
            timeout=5,
        )
        assert not refused["ok"], refused
        assert refused["result"] is None
        assert refused["error"], refused

        tok = token("intruder-cast")
        cast = svc1.ping(
            config_files=[conf],
            kind="cast",
            topic=RPC_TOPIC,
            server="zmq-svc2",
            method="record",
            args={"token": tok},
            timeout=5,
        )
        assert not cast["ok"], cast

        wait_for("proxies count the refusals", lambda: _denied(ready) > before, 15)
        time.sleep(2)
        assert lines_with(svc2.read(RPC_LOG), tok) == [], "a cast with an unknown key arrived"
    finally:
        svc1.run("rm -rf %s", INTRUDER_DIR)

    # The service's own key still works from the same host.
    value = token("known")
    known = svc1.call("zmq-svc2", "echo", value=value)
    assert known["ok"], known
    assert known["result"] == {"value": value, "host": "zmq-svc2"}
