"""A burst of casts between two monkey-patched transports: 8 green callers, an RPC server
on the eventlet executor.  Run as a separate process by test_eventlet.py; prints one JSON
line: the values the server ran, in order of arrival."""

import eventlet

eventlet.monkey_patch()

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import harness  # noqa: E402
import oslo_messaging  # noqa: E402


class Recorder:
    def __init__(self):
        self.values = []

    def record(self, ctxt, value):
        self.values.append(value)


def main() -> int:
    url, callers, each = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    topic = "burst-" + uuid.uuid4().hex
    conf = harness.new_conf()
    server_transport = oslo_messaging.get_rpc_transport(conf, url=url)
    recorder = Recorder()
    target = oslo_messaging.Target(topic=topic, server="b1")
    server = oslo_messaging.get_rpc_server(
        server_transport, target, [recorder], executor="eventlet"
    )
    server.start()
    client_transport = oslo_messaging.get_rpc_transport(conf, url=url)
    client = oslo_messaging.get_rpc_client(client_transport, target)

    def cast_many(first):
        for value in range(first, first + each):
            client.cast({}, "record", value=value)

    pool = eventlet.GreenPool(callers)
    for n in range(callers):
        pool.spawn(cast_many, n * each)
    pool.waitall()
    deadline = time.monotonic() + 30
    while len(recorder.values) < callers * each and time.monotonic() < deadline:
        time.sleep(0.05)
    print(json.dumps({"values": recorder.values}), flush=True)
    # run on past ack_timeout (a green sleep: the I/O loops run): a cast its sender did
    # not see settled is sent again meanwhile, and the proxies count it routed twice
    time.sleep(4.5)
    print("settled", flush=True)
    sys.stdin.readline()  # blocks the hub: the test reads the proxies' counters now
    server.stop()
    server.wait()
    for transport in (server_transport, client_transport):
        transport.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
