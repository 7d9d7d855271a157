"""Under eventlet monkey-patching (as many services run): RPC + notifications with the
eventlet executor.  Run as a separate process by test_eventlet.py; prints one JSON line."""

import eventlet

eventlet.monkey_patch()

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import harness  # noqa: E402
import oslo_messaging  # noqa: E402


class Endpoint:
    def __init__(self):
        self.casts = []

    def echo(self, ctxt, value):
        return value

    def record(self, ctxt, value):
        self.casts.append(value)

    def delay(self, ctxt, seconds):
        time.sleep(seconds)  # green sleep: other calls keep being served
        return seconds


class Notified:
    def __init__(self):
        self.events = []

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        self.events.append(payload)


def main() -> int:
    url = sys.argv[1]
    executor = sys.argv[2] if len(sys.argv) > 2 else "eventlet"
    topic = "g-" + uuid.uuid4().hex
    conf = harness.new_conf()
    server_transport = oslo_messaging.get_rpc_transport(conf, url=url)
    endpoint = Endpoint()
    server = oslo_messaging.get_rpc_server(
        server_transport,
        oslo_messaging.Target(topic=topic, server="g1"),
        [endpoint],
        executor=executor,
    )
    server.start()
    notified = Notified()
    notify_transport = oslo_messaging.get_notification_transport(conf, url=url)
    listener = oslo_messaging.get_notification_listener(
        notify_transport, [oslo_messaging.Target(topic=topic)], [notified], executor=executor
    )
    listener.start()
    client_transport = oslo_messaging.get_rpc_transport(conf, url=url)
    client = oslo_messaging.get_rpc_client(
        client_transport, oslo_messaging.Target(topic=topic), timeout=10
    )
    result = {"executor": executor}
    result["echo"] = [client.call({}, "echo", value=i) for i in range(50)]
    for i in range(50):
        client.cast({}, "record", value=i)
    # a long call (with call monitoring) runs while short calls are answered
    long_call = eventlet.spawn(
        client.prepare(timeout=60, call_monitor_timeout=2).call, {}, "delay", seconds=4
    )
    started = time.monotonic()
    result["during_long"] = [client.call({}, "echo", value=i) for i in range(5)]
    result["during_long_elapsed"] = time.monotonic() - started
    result["long"] = long_call.wait()
    notifier = oslo_messaging.Notifier(
        oslo_messaging.get_notification_transport(conf, url=url),
        "green.host",
        driver="messagingv2",
        topics=[topic],
    )
    for i in range(10):
        notifier.info({}, "ev", i)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (len(endpoint.casts) < 50 or len(notified.events) < 10):
        time.sleep(0.05)
    result["casts"] = sorted(endpoint.casts)
    result["notifications"] = sorted(notified.events)
    for srv in (server, listener):
        srv.stop()
        srv.wait()
    for transport in (server_transport, notify_transport, client_transport):
        transport.cleanup()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
