#!/usr/bin/env bash
# Usage: driver/tests/run_debian13_functional.sh
# The driver's unit tests and oslo.messaging's functional suite on zmq:// (run_oslo_functional.py,
# two CURVE proxies) on Debian 13's own stack: Python 3.13 with Debian's python3-oslo.messaging
# (16.1.0), python3-zmq, python3-eventlet, ... in a throwaway container of the project's Debian 13
# image (ZMQOS_DEBIAN13_IMAGE overrides it). The driver goes in with pip --no-deps beside Debian's
# packages, as the oslo_messaging_zmq role installs it. Debian's package keeps
# oslo_messaging/tests/functional, less the rabbit-only module (so no pifpaf is needed).
# gcc and python3-dev build the proxy's native core against Debian's own pyzmq and libzmq, and
# its test is required to run. Not a tox env: run it by hand (about 6 minutes).
set -euo pipefail

driver=$(cd "$(dirname "$0")/.." && pwd)
image=${ZMQOS_DEBIAN13_IMAGE:-localhost/zeromq-openstack/debian13-systemd:latest}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$driver/../scripts/containers.conf}
name=zmqos-debian13-functional-$$
trap 'podman rm -f "$name" >/dev/null 2>&1 || true' EXIT

packages=(
  python3-oslo.messaging python3-zmq python3-msgpack python3-eventlet
  python3-oslotest python3-testscenarios python3-requests
  python3-pip python3-setuptools python3-pytest python3-pytest-timeout
  gcc python3-dev
)

tar -C "$driver" -c --exclude=__pycache__ --exclude='*.egg-info' --exclude='*.so' --exclude=build . |
  podman run -i --name "$name" "$image" bash -euo pipefail -c '
    mkdir -p /src/driver && tar -C /src/driver -x
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "$@" >/dev/null
    python3 --version
    dpkg-query -W -f "\${Package} \${Version}\n" "$@" python3-oslo.config python3-greenlet
    python3 -m pip install -q --no-deps --no-build-isolation --break-system-packages \
      --root-user-action=ignore /src/driver
    cd /tmp
    OSLO_MESSAGING_ZMQ_TEST_NATIVE=required \
      python3 -m pytest -q -p no:cacheprovider /src/driver/tests/unit
    python3 /src/driver/tests/run_oslo_functional.py
  ' bash "${packages[@]}"
