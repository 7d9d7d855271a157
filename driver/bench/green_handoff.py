"""CPU per reply hand-off under eventlet: eventlet's Queue against the driver's GreenSlot.

    python green_handoff.py [--calls N] [--callers C] [--rounds R]

One monkey-patched process: C green callers each make a reply holder, wait on it
(with a timeout, as a call does) and start again; one green "loop" puts a reply in
every holder waiting and yields to the hub, as the driver's I/O loop does after a
busy turn.  Prints the process CPU per call for each kind, alternating, R rounds.
It measures the mechanism alone: what a call saves in the simulator is this
difference, not a throughput claim.
"""

import warnings

warnings.simplefilter("ignore")

import eventlet  # noqa: E402

eventlet.monkey_patch()

import argparse  # noqa: E402
import queue  # noqa: E402
import time  # noqa: E402

from oslo_messaging_zmq.greenwait import GreenSlot  # noqa: E402

KINDS = {"eventlet Queue": queue.Queue, "GreenSlot": GreenSlot}


def cpu_per_call(make, calls: int, callers: int) -> float:
    waiting: list = []
    done = [0]

    def caller() -> None:
        for _unused in range(calls // callers):
            holder = make()
            waiting.append(holder)
            holder.get(timeout=10.0)
            done[0] += 1

    def loop() -> None:
        while done[0] < calls // callers * callers:
            while waiting:
                waiting.pop().put(("reply", None, None))
            eventlet.sleep(0)

    start = time.process_time()
    threads = [eventlet.spawn(caller) for _unused in range(callers)]
    pump = eventlet.spawn(loop)
    for thread in threads:
        thread.wait()
    pump.wait()
    return (time.process_time() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50000)
    parser.add_argument("--callers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print("| round | " + " | ".join(f"{k} µs/call" for k in KINDS) + " |")
    print("|---:|" + "---:|" * len(KINDS))
    for rnd in range(1, args.rounds + 1):
        cells = [f"{cpu_per_call(make, args.calls, args.callers):.1f}" for make in KINDS.values()]
        print(f"| {rnd} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
