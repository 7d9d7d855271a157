"""A green process that casts and then runs no Python for a while, as a WSGI worker does
between requests (uwsgi or mod_wsgi back in C code: eventlet's hub never runs). Run by
test_eventlet.py: argv = url topic count idle_seconds; prints "cast" once cast() returned."""

import eventlet

eventlet.monkey_patch()

import sys  # noqa: E402

import harness  # noqa: E402
import oslo_messaging  # noqa: E402
from eventlet import patcher  # noqa: E402


def main() -> int:
    url, topic, count, idle = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    transport = oslo_messaging.get_rpc_transport(harness.new_conf(), url=url)
    client = oslo_messaging.get_rpc_client(transport, oslo_messaging.Target(topic=topic))
    for value in range(count):
        client.cast({}, "record", value=value)
    print("cast", flush=True)
    patcher.original("time").sleep(idle)  # blocks the whole process, the hub included
    transport.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
