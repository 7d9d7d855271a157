"""How long a worker waits for the proxy's verdict on its "taken" (wire.CONFIRM).

    python verdict_rtt.py [--casts N] [--pace S]

One CURVE proxy and one RPC server in its own process (tests/functional's
harness and peer_server.py); the server's listener is instrumented to time
each "taken" from leaving its I/O loop to its verdict arriving there.  The
client casts N casts, one every S seconds (0: as fast as it can), waits until
the server ran them all, and prints the verdict round trip's percentiles.
"""

from __future__ import annotations

import argparse
import os
import runpy
import signal
import subprocess
import sys
import tempfile
import time
import uuid

FUNCTIONAL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "functional")


def _child(out: str, argv: list[str]) -> None:
    """peer_server.py with _send_taken and _verdict timed; percentiles to out on SIGTERM."""
    from oslo_messaging_zmq import listener

    sent_at: dict[str, float] = {}
    waits: list[float] = []
    send_taken, verdict = listener.ZmqListener._send_taken, listener.ZmqListener._verdict

    def timed_send(self, msg_id, waiting, prefer, again=False):
        sent_at[msg_id] = time.monotonic()
        return send_taken(self, msg_id, waiting, prefer, again)

    def timed_verdict(self, msg_id, waiting, run, tell_sender=False):
        start = sent_at.pop(msg_id, None)
        if start is not None:
            waits.append(time.monotonic() - start)
        return verdict(self, msg_id, waiting, run, tell_sender)

    def dump(*_args):
        ordered = sorted(waits)
        with open(out, "w") as handle:
            for q in (0.5, 0.9, 0.99):
                value = ordered[int(q * (len(ordered) - 1))] if ordered else float("nan")
                handle.write("%s %.3f\n" % (q, 1000 * value))
            handle.write("n %d\n" % len(ordered))
        os._exit(0)

    listener.ZmqListener._send_taken = timed_send
    listener.ZmqListener._verdict = timed_verdict
    signal.signal(signal.SIGTERM, dump)
    sys.path.insert(0, FUNCTIONAL)
    sys.argv = ["peer_server.py", *argv]
    runpy.run_path(os.path.join(FUNCTIONAL, "peer_server.py"), run_name="__main__")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--casts", type=int, default=4000)
    parser.add_argument("--pace", type=float, default=0.0, help="s between casts (0: flood)")
    args = parser.parse_args()
    sys.path.insert(0, FUNCTIONAL)
    import harness
    import oslo_messaging

    work = tempfile.mkdtemp(prefix="verdict-rtt-")
    out, record = os.path.join(work, "waits"), os.path.join(work, "record")
    keys = harness.make_keys(os.path.join(work, "keys"))
    proxy = harness.ProxyProcess(keys, work).start()
    server = None
    try:
        url = harness.transport_url([proxy], keys)
        topic = "rtt-" + uuid.uuid4().hex
        command = [sys.executable, __file__, "--child", out, url, topic, "s1", "--record", record]
        server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        if server.stdout.readline().strip() != "ready":
            raise SystemExit("the server did not start")
        transport = oslo_messaging.get_rpc_transport(harness.new_conf(), url=url)
        client = oslo_messaging.get_rpc_client(transport, oslo_messaging.Target(topic=topic))
        started = time.monotonic()
        for value in range(args.casts):
            client.cast({}, "record", value=value)
            if args.pace:
                time.sleep(args.pace)
        sent_for = time.monotonic() - started
        if not harness.wait_for(lambda: len(harness.read_record(record)) >= args.casts, 120):
            raise SystemExit("not every cast ran within 120 s")
        server.terminate()
        server.wait(10)
        transport.cleanup()
        values = dict(line.split() for line in open(out))
        print("| casts | sent per s | verdict p50 ms | p90 ms | p99 ms |")
        print("|---:|---:|---:|---:|---:|")
        print(
            "| %s | %.0f | %s | %s | %s |"
            % (values["n"], args.casts / sent_for, values["0.5"], values["0.9"], values["0.99"])
        )
    finally:
        if server is not None and server.poll() is None:
            server.kill()
        proxy.stop()


if __name__ == "__main__":
    main()
