"""Measure the residual window: a server frozen while its workers take casts.

    python frozen_window.py [--rounds N] [--workers W] [--pause S] [--out FILE.md]

Each round: two CURVE proxies, a server "frozen" (W workers, each cast takes S
seconds) and a server "steady"; casts as fast as they go for a random 0.3-0.8 s,
then "frozen" gets SIGSTOP while its workers take casts, stays frozen past peer_timeout
under steady casts, is thawed, and 100 more casts follow.  Every execution is
counted by value in an append-only record.  A cast run twice means the freeze
fell between a worker taking it and its "taken" leaving the process (README,
"residual window"); a missing cast is a loss, never expected.

Prints one line per round and a table; the table is also written to --out.
The window's width is estimated as duplicates / (takes per second at freeze).
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import signal
import sys
import tempfile
import time
import uuid

import harness
import oslo_messaging

FROZEN_FOR = 7.0  # > peer_timeout (5 s) + heartbeat


def _records(path):
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        return [line.split() for line in handle if line.strip()]


def _registered(proxies, topic, count):
    label = "rpc/openstack/" + topic
    return all(p.metrics()["targets"].get(label, {}).get("listeners", 0) >= count for p in proxies)


def _stop(proc):
    proc.send_signal(signal.SIGCONT)
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def one_round(url, proxies, workdir, workers, pause) -> dict:
    topic = "fw-" + uuid.uuid4().hex
    record = os.path.join(workdir, topic)
    frozen = harness.start_peer(
        url, topic, "frozen", "--record", record, "--delay", str(pause), "--workers", str(workers)
    )
    steady = harness.start_peer(url, topic, "steady", "--record", record)
    conf = harness.new_conf()
    transport = oslo_messaging.get_rpc_transport(conf, url=url)
    try:
        if not harness.wait_for(lambda: _registered(proxies, topic, 2), 10):
            raise RuntimeError("servers did not register")
        client = oslo_messaging.get_rpc_client(transport, oslo_messaging.Target(topic=topic))
        total = 0
        # more than its workers run, for a random while: frozen as they take casts
        busy_until = time.monotonic() + random.uniform(0.3, 0.8)
        while time.monotonic() < busy_until:
            client.cast({}, "record", value=total)
            total += 1
        frozen.send_signal(signal.SIGSTOP)
        lines_at_stop = len(_records(record))
        stop_at = time.monotonic() + FROZEN_FOR
        while time.monotonic() < stop_at:
            client.cast({}, "record", value=total)
            total += 1
            time.sleep(0.01)
        lines_at_thaw = len(_records(record))
        frozen.send_signal(signal.SIGCONT)
        harness.wait_for(lambda: _registered(proxies, topic, 2), 10)
        for _unused in range(100):
            client.cast({}, "record", value=total)
            total += 1
        harness.wait_for(lambda: len({v for _s, v in _records(record)}) >= total, 40)
        time.sleep(2.0)  # late duplicates would show here
        lines = _records(record)
        counts = collections.Counter(int(v) for _s, v in lines)
        # where "frozen" ran each duplicated cast: before the freeze or after the thaw
        when = {}
        for index, (server, value) in enumerate(lines):
            if server == "frozen" and counts[int(value)] > 1:
                if index < lines_at_stop:
                    when[int(value)] = "before"
                elif index >= lines_at_thaw:
                    when[int(value)] = "after"
        return {
            "frozen_ran": dict(sorted(when.items())),
            "casts": total,
            "lost": sum(1 for v in range(total) if v not in counts),
            "duplicated": sorted(v for v, n in counts.items() if n > 1),
        }
    finally:
        transport.cleanup()
        _stop(frozen)
        _stop(steady)


def table(args, rounds: list[dict]) -> str:
    dups = sum(len(r["duplicated"]) for r in rounds)
    whens = collections.Counter(w for r in rounds for w in r["frozen_ran"].values())
    takes_per_s = args.workers / args.pause
    width_us = 1e6 * dups / (len(rounds) * takes_per_s) if rounds else 0.0
    row = (
        len(rounds),
        args.workers,
        args.pause,
        takes_per_s,
        sum(r["casts"] for r in rounds),
        sum(r["lost"] for r in rounds),
        dups,
        whens["before"],
        whens["after"],
        sum(1 for r in rounds if r["duplicated"]),
        width_us,
    )
    return "\n".join(
        [
            "| rounds | workers | pause (s) | takes/s | casts | lost | duplicated "
            "| of which frozen ran before the freeze | after the thaw "
            "| rounds with a duplicate | window (µs, estimated) |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            "| %d | %d | %g | %.0f | %d | %d | %d | %d | %d | %d | %.0f |" % row,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--pause", type=float, default=0.005, help="s each cast takes")
    parser.add_argument("--out")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="frozen-window-")
    keys = harness.make_keys(os.path.join(workdir, "keys"))
    proxies = [harness.ProxyProcess(keys, workdir).start() for _ in range(2)]
    url = harness.transport_url(proxies, keys)
    results = []
    try:
        for number in range(1, args.rounds + 1):
            result = one_round(url, proxies, workdir, args.workers, args.pause)
            results.append(result)
            print(
                "round %d/%d: %d casts, %d lost, duplicated %s"
                % (number, args.rounds, result["casts"], result["lost"], result["frozen_ran"]),
                flush=True,
            )
    finally:
        for proxy in proxies:
            proxy.stop()
    text = table(args, results)
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write("`%s`\n\n%s\n" % (" ".join(sys.argv), text))


if __name__ == "__main__":
    main()
