"""Measure the window of a server frozen while its workers take casts.

    python frozen_window.py [--rounds N] [--workers W] [--pause S] [--out FILE.md]
                            [--transport zmq|rabbit] [--frozen-for S] [--no-confirm]

zmq runs with confirm_casts on unless --no-confirm.

Each round: two CURVE proxies, a server "frozen" (W workers, each cast takes S
seconds) and a server "steady"; casts as fast as they go for a random 0.3-0.8 s,
then "frozen" gets SIGSTOP while its workers take casts, stays frozen past peer_timeout
under steady casts, is thawed, and 100 more casts follow.  Every execution is
counted by value in an append-only record.  A cast run twice means the freeze
fell between a worker taking it and its "taken" reaching the sender, and the
proxies' confirmation (README, "Delivery guarantees") did not stop it; a
missing cast is a loss.  Neither is expected.  On zmq the proxies' counters
show how often a freeze hit that window: "taken" ACKs refused as late, and
ones asked again after their confirmation was lost.

Prints one line per round and a table; the table is also written to --out.
The window's width is estimated as duplicates / (takes per second at freeze).

--transport rabbit runs the same rounds on a private RabbitMQ node (driver/bench's
rabbit.py) as the baseline, with heartbeat_timeout_threshold --rabbit-heartbeat
(the broker gives up on a silent consumer after about that long, and requeues
its unacknowledged messages); --frozen-for must be longer than that.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import random
import signal
import sys
import tempfile
import time
import uuid

import harness
import oslo_messaging

FROZEN_FOR = 7.0  # zmq: > peer_timeout (5 s) + heartbeat
BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench")


def _consuming(node, topic, count):
    return node.queues().get(topic, 0) >= count


def _stop(proc):
    proc.send_signal(signal.SIGCONT)
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def one_round(url, ready, workdir, workers, pause, frozen_for, extra) -> dict:
    topic = "fw-" + uuid.uuid4().hex
    record = os.path.join(workdir, topic)
    frozen = harness.start_peer(
        url,
        topic,
        "frozen",
        "--record",
        record,
        "--delay",
        str(pause),
        "--workers",
        str(workers),
        *extra,
    )
    steady = harness.start_peer(url, topic, "steady", "--record", record, *extra)
    conf = harness.new_conf()
    transport = oslo_messaging.get_rpc_transport(conf, url=url)
    try:
        if not harness.wait_for(lambda: ready(topic), 20, 0.5):
            raise RuntimeError("servers did not register")
        client = oslo_messaging.get_rpc_client(transport, oslo_messaging.Target(topic=topic))
        total = 0
        # more than its workers run, for a random while: frozen as they take casts
        busy_until = time.monotonic() + random.uniform(0.3, 0.8)
        while time.monotonic() < busy_until:
            client.cast({}, "record", value=total)
            total += 1
        frozen.send_signal(signal.SIGSTOP)
        sent_before = total
        lines_at_stop = len(harness.read_record(record))
        stop_at = time.monotonic() + frozen_for
        while time.monotonic() < stop_at:
            client.cast({}, "record", value=total)
            total += 1
            time.sleep(0.01)
        lines_at_thaw = len(harness.read_record(record))
        sent_frozen = range(sent_before, total)
        frozen.send_signal(signal.SIGCONT)
        harness.wait_for(lambda: ready(topic), 30, 0.5)
        for _unused in range(100):
            client.cast({}, "record", value=total)
            total += 1
        harness.wait_for(lambda: len({v for _s, v in harness.read_record(record)}) >= total, 40)
        time.sleep(2.0)  # late duplicates would show here
        lines = harness.read_record(record)
        counts = collections.Counter(int(v) for _s, v in lines)
        # where "frozen" ran each duplicated cast: before the freeze or after the thaw
        when = {}
        for index, (server, value) in enumerate(lines):
            if server == "frozen" and counts[int(value)] > 1:
                if index < lines_at_stop:
                    when[int(value)] = "before"
                elif index >= lines_at_thaw:
                    when[int(value)] = "after"
        by_steady = {int(v) for server, v in lines if server == "steady"}
        return {
            "elsewhere": sum(1 for v in sent_frozen if v in by_steady) / max(1, len(sent_frozen)),
            "frozen_ran": dict(sorted(when.items())),
            "casts": total,
            "lost": sum(1 for v in range(total) if v not in counts),
            "duplicated": sorted(v for v, n in counts.items() if n > 1),
        }
    finally:
        transport.cleanup()
        _stop(frozen)
        _stop(steady)


def table(args, rounds: list[dict], frozen_for: float) -> str:
    dups = sum(len(r["duplicated"]) for r in rounds)
    whens = collections.Counter(w for r in rounds for w in r["frozen_ran"].values())
    takes_per_s = args.workers / args.pause
    width_us = 1e6 * dups / (len(rounds) * takes_per_s) if rounds else 0.0
    row = (
        args.transport,
        frozen_for,
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
        100 * sum(r["elsewhere"] for r in rounds) / max(1, len(rounds)),
        _count(rounds, "refused_late"),
        _count(rounds, "confirmed_again"),
        sum(1 for r in rounds if r.get("refused_late") or r.get("confirmed_again")),
    )
    return "\n".join(
        [
            "| transport | frozen (s) | rounds | workers | pause (s) | takes/s | casts | lost "
            "| duplicated | of which frozen ran before the freeze | after the thaw "
            "| rounds with a duplicate | window (µs, estimated) "
            "| sent while frozen, ran elsewhere (%) | takens refused late "
            "| asked again, confirmed | rounds that hit the window |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            "| %s | %g | %d | %d | %g | %.0f | %d | %d | %d | %d | %d | %d | %.0f | %.0f "
            "| %s | %s | %d |" % row,
        ]
    )


def _count(rounds: list[dict], name: str) -> str:
    values = [r[name] for r in rounds if name in r]
    return str(sum(values)) if values else "-"


def verdict_counters(proxies) -> collections.Counter:
    """The proxies' counters of late and re-asked "taken" ACKs, summed."""
    total = collections.Counter()
    for proxy in proxies:
        counters = proxy.metrics()["counters"]
        for name in ("refused_late", "confirmed_again"):
            total[name] += counters.get(name, 0)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--pause", type=float, default=0.005, help="s each cast takes")
    parser.add_argument("--out")
    parser.add_argument("--transport", choices=("zmq", "rabbit"), default="zmq")
    parser.add_argument("--frozen-for", type=float, help="s frozen (zmq: 7)")
    parser.add_argument("--rabbit-heartbeat", type=int, default=4)
    parser.add_argument(
        "--no-confirm",
        action="store_true",
        help="zmq without confirm_casts (the servers run a cast as their worker takes it)",
    )
    args = parser.parse_args()
    # a stopped run still stops its proxies or RabbitMQ node (ExitStack below)
    signal.signal(signal.SIGTERM, lambda *_args: sys.exit(143))
    workdir = tempfile.mkdtemp(prefix="frozen-window-")
    frozen_for = args.frozen_for or FROZEN_FOR
    results = []
    with contextlib.ExitStack() as stack:
        if args.transport == "rabbit":
            sys.path.insert(0, BENCH)
            import rabbit

            rabbit.ensure_installed(print)
            threshold = "oslo_messaging_rabbit.heartbeat_timeout_threshold=%d"
            extra = ["--set", threshold % args.rabbit_heartbeat]
            node = stack.enter_context(rabbit.RabbitNode(print))
            url = node.url

            def ready(topic):
                return _consuming(node, topic, 2)

        else:
            extra = []
            keys = harness.make_keys(os.path.join(workdir, "keys"))
            proxies = []
            for _unused in range(2):
                proxies.append(harness.ProxyProcess(keys, workdir).start())
                stack.callback(proxies[-1].stop)
            url = harness.transport_url(proxies, keys)
            if not args.no_confirm:
                url += "&confirm_casts=true"

            def ready(topic):
                return harness.registered(proxies, topic, 2)

        for number in range(1, args.rounds + 1):
            before = verdict_counters(proxies) if args.transport == "zmq" else None
            result = one_round(url, ready, workdir, args.workers, args.pause, frozen_for, extra)
            if before is not None:
                result.update(verdict_counters(proxies) - before)
                result.setdefault("refused_late", 0)
                result.setdefault("confirmed_again", 0)
            results.append(result)
            print(
                "round %d/%d: %d casts, %d lost, duplicated %s; %.0f %% of those sent while "
                "frozen ran at steady; takens refused late %s, asked again %s"
                % (
                    number,
                    args.rounds,
                    result["casts"],
                    result["lost"],
                    result["frozen_ran"],
                    100 * result["elsewhere"],
                    result.get("refused_late", "-"),
                    result.get("confirmed_again", "-"),
                ),
                flush=True,
            )
    text = table(args, results, frozen_for)
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write("`%s`\n\n%s\n" % (" ".join(sys.argv), text))


if __name__ == "__main__":
    main()
