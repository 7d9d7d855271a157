"""How long a new transport takes to get its first message through, as a
service that starts (or a short-lived command) sees it: from
get_rpc_transport() to the first call answered, and to the first cast at the
server (one way, timed there).  Run by run.py against the bench's server
worker (om_server.py); prints one JSON line.
"""

from __future__ import annotations

# isort: off
import om_green  # noqa: F401 - must run before the other imports

# isort: on
import argparse
import json
import time

import oslo_messaging
from om_common import add_transport_args, make_conf, rpc_target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_transport_args(parser)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--tag", default="first")
    args = parser.parse_args()
    conf = make_conf(args.config_file)
    call_ms: list[float] = []
    for seq in range(args.samples):
        started = time.monotonic()
        transport = oslo_messaging.get_rpc_transport(conf, url=args.url)
        try:
            client = oslo_messaging.get_rpc_client(transport, rpc_target(), timeout=30)
            client.call({}, "bench_call", wl=f"{args.tag}-call", seq=seq, ts=started, body="x")
            call_ms.append(1000 * (time.monotonic() - started))
        finally:
            transport.cleanup()
        started = time.monotonic()
        transport = oslo_messaging.get_rpc_transport(conf, url=args.url)
        try:
            client = oslo_messaging.get_rpc_client(transport, rpc_target())
            client.cast({}, "bench_cast", wl=f"{args.tag}-cast", seq=seq, ts=started, body="x")
        finally:
            transport.cleanup()  # waits for the cast's acknowledgement (zmq)
    print(json.dumps({"call_ms": call_ms, "casts": args.samples}), flush=True)


if __name__ == "__main__":
    main()
