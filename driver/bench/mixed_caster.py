"""A green burst of casts to a topic, for mixed_versions.py.

mixed_caster.py URL TOPIC CALLERS EACH

CALLERS green threads cast record(value=v) to the topic (no server: the
topic's servers take turns), EACH values per caller, 0 .. CALLERS*EACH-1.
Prints "sent" once every cast() returned, then "settled" after a green sleep
past ack_timeout (a cast its sender did not see settled is sent again
meanwhile), then waits for a line on stdin before it cleans up.
"""

import eventlet

eventlet.monkey_patch()

import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "functional")
)

import harness  # noqa: E402
import oslo_messaging  # noqa: E402

PAST_ACK_TIMEOUT = 4.5  # s; ack_timeout is 3 s by default


def main() -> int:
    url, topic, callers, each = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    transport = oslo_messaging.get_rpc_transport(harness.new_conf(), url=url)
    client = oslo_messaging.get_rpc_client(transport, oslo_messaging.Target(topic=topic))

    def cast_many(first):
        for value in range(first, first + each):
            client.cast({}, "record", value=value)

    pool = eventlet.GreenPool(callers)
    for n in range(callers):
        pool.spawn(cast_many, n * each)
    pool.waitall()
    print("sent", flush=True)
    time.sleep(PAST_ACK_TIMEOUT)
    print("settled", flush=True)
    sys.stdin.readline()
    transport.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
