"""oslo-messaging-zmq-proxy that freezes itself (SIGSTOP) between its burst and its housekeeping.

    freezing_proxy.py TRIGGER LATE --config-file CONF

Once the file TRIGGER exists, the proxy's next housekeeping (maintenance())
deletes TRIGGER and SIGSTOPs the proxy's own process first: it stops after
the loop's stall check and its receive burst, before the housekeeping reads
the clock.  A SIGSTOP that hits a busy proxy inside its burst ends up the
same way when the burst finds its sockets empty on SIGCONT (libzmq's I/O
thread, frozen too, has not read the backlog from TCP yet).  The test sends
SIGCONT.

For LATE seconds after the thaw, the listeners' registrations that come in
are handled only then, as if they had reached the proxy that much later
than the messages queued beside them (a relay, a slower connection or TCP
buffer: the order between peers is not guaranteed).
"""

import os
import signal
import sys
import time

from oslo_messaging_zmq import proxy, wire


def main() -> int:
    trigger, late = sys.argv[1], float(sys.argv[2])
    maintenance, handle = proxy.Proxy.maintenance, proxy.Proxy.handle
    thawed_at = [None]
    deferred = []

    def flush_deferred(self):
        if deferred and time.monotonic() - thawed_at[0] >= late:
            frames_list = list(deferred)
            deferred.clear()
            for frames, args in frames_list:
                handle(self, frames, *args)

    def freezing_maintenance(self):
        if os.path.exists(trigger):
            os.unlink(trigger)
            os.kill(os.getpid(), signal.SIGSTOP)
            thawed_at[0] = time.monotonic()
        flush_deferred(self)
        maintenance(self)

    def late_handle(self, frames, *args):
        # args (CURVE): the connection's key and the routing id's frame
        if thawed_at[0] is not None and time.monotonic() - thawed_at[0] < late:
            if len(frames) > 1 and wire.decode(frames[1:])[0] == wire.REGISTER:
                deferred.append((frames, args[:1]))  # the frame is gone by then
                return
        flush_deferred(self)
        handle(self, frames, *args)

    proxy.Proxy.maintenance = freezing_maintenance
    proxy.Proxy.handle = late_handle
    return proxy.main(sys.argv[3:])


if __name__ == "__main__":
    sys.exit(main())
