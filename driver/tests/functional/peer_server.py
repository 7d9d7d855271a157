"""An RPC server in its own process, for tests that kill it: peer_server.py URL TOPIC SERVER."""

import sys

if "--green" in sys.argv:
    import eventlet

    eventlet.monkey_patch()

import threading  # noqa: E402
import time  # noqa: E402

import harness  # noqa: E402
import oslo_messaging  # noqa: E402


class Endpoint:
    def echo(self, ctxt, value):
        return value

    def delay(self, ctxt, seconds):
        time.sleep(seconds)
        return seconds


def main() -> None:
    url, topic, server = sys.argv[1:4]
    transport = oslo_messaging.get_rpc_transport(harness.new_conf(), url=url)
    target = oslo_messaging.Target(topic=topic, server=server)
    executor = "eventlet" if "--green" in sys.argv else "threading"
    rpc = oslo_messaging.get_rpc_server(transport, target, [Endpoint()], executor=executor)
    rpc.start()
    time.sleep(0.5)  # registration reaches the proxies within one round trip
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
