"""Reproducer: a cast to a server frozen longer than peer_timeout is lost, silently.

One RPC server (topic compute, server host-1, its own process: tests/functional/
peer_server.py) behind two CURVE proxies. A cast goes to it while it is SIGSTOPped
for 8 s (> peer_timeout 5 s), then it is thawed:

* the sender gets no ACK: it sends again after ack_timeout (3 s), through the other
  proxy, and again at 6 s; by then the proxies forgot the silent server, so the
  proxy *holds* the copy and answers STATUS held, which settles the cast at the sender;
* the proxy also closed the frozen connection (ZMTP heartbeat timeout), so the copies
  delivered before are gone;
* on thawing the server re-registers at once; the proxy flushes the held copy to it
  within milliseconds, inside the listener's THAW_QUARANTINE (1 s after a stall longer
  than ack_timeout), so the listener *releases* it (ACK "released", not run) — and the
  sender, which settled the cast on "held", ignores the release.

Observed: the cast never runs; proxy counters held 1, delivered_from_hold 1, dropped 0;
no log line anywhere. FREEZE=4 (below peer_timeout): it runs. Exit status 1 when lost.

  PYTHONPATH=driver python driver/bench/repro/held_cast_lost_after_freeze.py
"""

from __future__ import annotations

import os
import signal
import sys
import time

import _lab
import harness
import oslo_messaging


def main() -> int:
    freeze = float(os.environ.get("FREEZE", "8"))
    proxies, url = _lab.start()
    record = _lab.record_path()
    server = harness.start_peer(url, "compute", "host-1", "--record", record)
    transport = oslo_messaging.get_rpc_transport(harness.new_conf(), url=url)
    target = oslo_messaging.Target(topic="compute", server="host-1")
    client = oslo_messaging.get_rpc_client(transport, target)
    try:
        client.cast({}, "record", value="before")
        time.sleep(1)
        server.send_signal(signal.SIGSTOP)
        time.sleep(0.5)
        client.cast({}, "record", value="while-frozen")
        time.sleep(freeze)
        server.send_signal(signal.SIGCONT)
        time.sleep(12)  # several ack_timeouts: any re-send would have run by now
        client.cast({}, "record", value="after")
        time.sleep(2)
        ran = _lab.executed(record)
        print(f"frozen {freeze:g} s; executed: {ran}; proxies: {_lab.counters(proxies)}")
    finally:
        server.kill()
        transport.cleanup()
        _lab.stop(proxies)
    lost = "while-frozen" not in ran  # peer_server.py records "host-1 VALUE"
    print("LOST: the cast sent while the server was frozen never ran" if lost else "ok")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
