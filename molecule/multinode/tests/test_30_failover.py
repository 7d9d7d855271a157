"""One proxy down: calls and casts between the services still go through the other one."""

from __future__ import annotations

import time

import pytest
from conftest import (
    DELIVERY_TIMEOUT,
    PROXIES,
    PROXY_UNIT,
    RPC_LOG,
    RPC_TOPIC,
    lines_with,
    proxy_counters,
    routed,
    token,
    wait_for,
    wait_healthy,
    wait_registered,
)


@pytest.mark.parametrize("down", PROXIES)
def test_calls_and_casts_survive_one_proxy_down(ready, down):
    up = PROXIES[1] if down == PROXIES[0] else PROXIES[0]
    stopped = ready[down]
    svc1, svc2 = ready["zmq-svc1"], ready["zmq-svc2"]
    stopped.check_output("systemctl stop %s", PROXY_UNIT)
    try:
        assert not stopped.sh.service(PROXY_UNIT).is_running
        assert stopped.http_json("/healthz")[0] == 0, f"{down} still answers its health probe"
        before = routed(proxy_counters(ready[up]), RPC_TOPIC)

        value = token("failover-call")
        call = svc1.call("zmq-svc2", "echo", value=value)
        assert call["ok"], call
        assert call["result"] == {"value": value, "host": "zmq-svc2"}

        tok = token("failover-cast")
        cast = svc1.ping(
            kind="cast", topic=RPC_TOPIC, server="zmq-svc2", method="record", args={"token": tok}
        )
        assert cast["ok"], cast
        wait_for("cast via " + up, lambda: lines_with(svc2.read(RPC_LOG), tok), DELIVERY_TIMEOUT)
        time.sleep(2)
        assert len(lines_with(svc2.read(RPC_LOG), tok)) == 1

        # Both messages went through the proxy that stayed up.
        assert routed(proxy_counters(ready[up]), RPC_TOPIC) >= before + 2
    finally:
        stopped.run("systemctl start %s", PROXY_UNIT)
        wait_healthy(stopped, 60)
    # Back in service: the services register with it again by themselves.
    wait_registered(stopped, 30)
