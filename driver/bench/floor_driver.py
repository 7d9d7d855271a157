"""A transport that moves nothing: the floor of oslo.messaging's simulator.

Loaded into the unchanged tools/simulator.py as ``floor://`` (an
``oslo.messaging.drivers`` entry point that simulator_floor.py writes next to
a copy of this file). Client and server do not talk to each other; each side
does only what every transport's driver must do in its process, and nothing
a wire needs:

* client: JSON-encode the context and message (as the zmq and RabbitMQ drivers
  do), drop the bytes; a call yields to the hub once (a caller waiting for its
  reply) and returns the decoded JSON of a reply of the same size (its own
  request's message).
* server: the listener hands oslo.messaging one message after another, each
  JSON-decoded from a body shaped like the simulator client's (its own
  ``make_message`` and ``MESSAGES`` cargo generator), at most a window of them
  not done (casts: acknowledged; calls: answered, the window being the
  client's concurrency, as a real call's server never has more); a reply is
  JSON-encoded and dropped.

So one process's messages per second here are the most any transport could
give that process in the same simulator on the same machine: its rate is all
oslo.messaging's client or server, eventlet and the simulator, with no I/O.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import threading
import time

from oslo_messaging._drivers import base
from oslo_serialization import jsonutils

WINDOW_ENV = "ZMQOS_FLOOR_WINDOW"  # messages handed out and not yet done (casts: acknowledged,
WINDOW = 64  # calls: answered); a call workload sets it to its client's concurrency
BODIES = 1000  # distinct bodies the server cycles through (the simulator's own limit)
SIMULATOR_ENV = "ZMQOS_FLOOR_SIMULATOR"  # path of the simulator, for its message generator


def _simulator_module():
    """The simulator script itself, imported to build bodies as its client does."""
    spec = importlib.util.spec_from_file_location("floor_simulator", os.environ[SIMULATOR_ENV])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sample_bodies(count: int = BODIES) -> list[bytes]:
    sim = _simulator_module()
    sim.generate_messages(count)
    bodies = []
    for seq, cargo in enumerate(sim.MESSAGES[:count]):
        message = {"method": "info", "args": {"message": sim.make_message(seq, cargo, time.time())}}
        bodies.append(jsonutils.dump_as_bytes({"context": {}, "message": message}))
    return bodies


class FloorIncoming(base.RpcIncomingMessage):
    def __init__(self, listener, ctxt, message, msg_id):
        super().__init__(ctxt, message, msg_id)
        self._listener = listener
        self._settled = False

    def acknowledge(self):
        if not self._listener.calls:
            self._done()

    def requeue(self):
        self._done()

    def reply(self, reply=None, failure=None):
        if self._listener.calls:
            jsonutils.dump_as_bytes({"result": reply, "failure": failure and str(failure)})
            self._done()

    def _done(self):
        if not self._settled:
            self._settled = True
            self._listener.window.release()

    def heartbeat(self):
        pass


class FloorListener(base.PollStyleListener):
    def __init__(self, calls: bool):
        super().__init__()
        self.calls = calls
        size = int(os.environ.get(WINDOW_ENV, WINDOW))
        self.window = threading.Semaphore(size)  # green once the simulator patched threading
        self._bodies = itertools.cycle(sample_bodies())
        self._ids = itertools.count()
        self._stopped = False

    @base.batch_poll_helper
    def poll(self, timeout=None):
        if self._stopped or not self.window.acquire(timeout=timeout):
            return None
        time.sleep(0)  # let the executor's green threads run, as a transport's wait would
        payload = jsonutils.loads(next(self._bodies))
        return FloorIncoming(self, payload["context"], payload["message"], str(next(self._ids)))

    def stop(self):
        self._stopped = True


class FloorDriver(base.BaseDriver):
    """The simulator's server target's topic says whether it serves calls: the
    floor server run by simulator_floor.py has 'call' in it."""

    def send(
        self,
        target,
        ctxt,
        message,
        wait_for_reply=None,
        timeout=None,
        call_monitor_timeout=None,
        retry=None,
        transport_options=None,
    ):
        body = jsonutils.dump_as_bytes({"context": ctxt, "message": message})
        if not wait_for_reply:
            return None
        time.sleep(0)  # a caller waits for its reply: one trip through the hub
        return jsonutils.loads(body)["message"]["args"]["message"]

    def send_notification(self, target, ctxt, message, version, retry=None):
        raise NotImplementedError("floor:// measures RPC only")

    def listen(self, target, batch_size, batch_timeout):
        listener = FloorListener(calls="call" in target.topic)
        return base.PollStyleListenerAdapter(listener, batch_size, batch_timeout)

    def listen_for_notifications(self, targets_and_priorities, pool, batch_size, batch_timeout):
        raise NotImplementedError("floor:// measures RPC only")

    def cleanup(self):
        pass
