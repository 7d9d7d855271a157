#!/usr/bin/python
# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: zmq_driver_check
short_description: Check that a service's Python can take, or has, the ZeroMQ driver
version_added: 0.1.0
description:
  - Runs a small helper with the interpreter of an OpenStack service (a virtualenv's python or
    the distribution's C(/usr/bin/python3)) and reports its Python version, the installed
    oslo.messaging and pyzmq, libzmq, and whether C(import oslo_messaging_zmq) and the
    stevedore entry point C(oslo.messaging.drivers zmq) resolve there.
  - Fails, naming the service and every problem, when the Python or a package is older than
    the given floors (the driver's own C(requires-python) and dependency floors) or, with
    O(require_driver=true), when the driver does not import or its entry point does not resolve.
  - The driver is installed with C(pip --no-deps) beside the service's own packages, so nothing
    else checks that those packages fit it.
author:
  - zeromq.openstack maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  platform:
    platforms: posix
  check_mode:
    support: full
    details:
      - The module only reads, so it runs the same in check mode.
  diff_mode:
    support: none
options:
  python:
    description:
      - Absolute path of the service's interpreter.
    type: path
    required: true
  service:
    description:
      - Name(s) of the service(s) using this interpreter, for the messages.
    type: str
    default: the service
  floors:
    description:
      - Lowest accepted versions by name, V(python), V(oslo.messaging) and V(pyzmq); a name
        left out is not checked (but V(oslo.messaging) must always be importable).
    type: dict
    default: {}
  require_driver:
    description:
      - Also require C(import oslo_messaging_zmq) to work, pyzmq to be present and the entry
        point C(oslo.messaging.drivers zmq) to resolve (after the install).
      - With V(false), a missing pyzmq is accepted (it is installed next).
    type: bool
    default: false
  fail_on_problem:
    description:
      - Fail when a problem is found. With V(false), RV(problems) tells them.
    type: bool
    default: true
notes:
  - The helper runs in Python's isolated mode (C(python -I)), as the service's own scripts see
    their packages, and imports nothing of the service itself.
"""

EXAMPLES = r"""
- name: Before installing the driver, check nova's Python
  zeromq.openstack.zmq_driver_check:
    python: /usr/bin/python3
    service: nova
    floors: {python: "3.11", oslo.messaging: "16.1", pyzmq: "25"}

- name: After installing it, check that oslo.messaging finds it
  zeromq.openstack.zmq_driver_check:
    python: /openstack/venvs/nova/bin/python
    service: nova
    floors: {python: "3.11", oslo.messaging: "16.1", pyzmq: "25"}
    require_driver: true
"""

RETURN = r"""
python_version:
  description: Version of the interpreter.
  returned: always
  type: str
  sample: 3.13.5
packages:
  description: Installed versions of oslo.messaging and pyzmq (V(null) when not importable).
  returned: always
  type: dict
  sample: {"oslo.messaging": "16.1.0", "pyzmq": "26.4.0"}
libzmq_version:
  description: Version of the libzmq pyzmq is linked to, V(null) without pyzmq.
  returned: always
  type: str
  sample: 4.3.5
driver_version:
  description: Installed version of oslo.messaging.zmq, V(null) when absent.
  returned: always
  type: str
  sample: 0.1.0
driver_digest:
  description:
    - sha256 over the installed driver's modules and the source of its native core
      (C(oslo_messaging_zmq/*.py), C(oslo_messaging_zmq/*.c)), the fingerprint the roles compare
      with the source they ship; V(null) when the driver is absent.
  returned: always
  type: str
entry_point:
  description: What C(oslo.messaging.drivers zmq) resolves to, V(null) when it does not.
  returned: always
  type: str
  sample: oslo_messaging_zmq.driver:ZmqDriver
problems:
  description: Each problem found, in words.
  returned: always
  type: list
  elements: str
  sample: ["oslo.messaging 14.9.0 is older than the driver's floor 16.1"]
"""

import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.common.text.converters import to_native  # noqa: E402
from ansible_collections.zeromq.openstack.plugins.module_utils import driver_env  # noqa: E402

# Run with the service's interpreter (Python 3.6+): one JSON answer on stdout.
HELPER = r"""
import json
import sys


def version_of(dist):
    try:
        from importlib import metadata
    except ImportError:
        return None
    try:
        return metadata.version(dist)
    except Exception:
        return None


def driver_digest():
    # The steps of module_utils/driver_digest.modules_digest, over the installed package.
    import hashlib
    import importlib.util
    import os

    spec = importlib.util.find_spec("oslo_messaging_zmq")
    if spec is None or not spec.submodule_search_locations:
        return None
    top = list(spec.submodule_search_locations)[0]
    digest = hashlib.sha256()
    for name in sorted(n for n in os.listdir(top) if n.endswith((".py", ".c"))):
        with open(os.path.join(top, name), "rb") as module:
            digest.update(name.encode() + b"\0" + module.read() + b"\0")
    return digest.hexdigest()


def main():
    out = sys.stdout
    sys.stdout = sys.stderr
    facts = {
        "python_version": "%d.%d.%d" % sys.version_info[:3],
        "packages": {},
        "libzmq_version": None,
        "driver_version": version_of("oslo.messaging.zmq"),
        "driver_digest": None,
        "driver_import_error": None,
        "entry_point": None,
        "entry_point_error": None,
    }
    try:
        facts["driver_digest"] = driver_digest()
    except Exception:
        pass
    try:
        import oslo_messaging  # noqa: F401
        facts["packages"]["oslo.messaging"] = version_of("oslo.messaging") or "0"
    except Exception as exc:
        facts["packages"]["oslo.messaging"] = None
        facts["oslo_messaging_error"] = "%s: %s" % (type(exc).__name__, exc)
    try:
        import zmq
        facts["packages"]["pyzmq"] = zmq.pyzmq_version()
        facts["libzmq_version"] = zmq.zmq_version()
    except Exception:
        facts["packages"]["pyzmq"] = None
    try:
        import oslo_messaging_zmq  # noqa: F401
    except Exception as exc:
        facts["driver_import_error"] = "%s: %s" % (type(exc).__name__, exc)
    try:
        from stevedore import driver
        manager = driver.DriverManager("oslo.messaging.drivers", "zmq", invoke_on_load=False)
        plugin = manager.driver
        facts["entry_point"] = "%s:%s" % (plugin.__module__, plugin.__name__)
    except Exception as exc:
        facts["entry_point_error"] = "%s: %s" % (type(exc).__name__, exc)
    out.write(json.dumps(facts) + "\n")
    out.flush()


main()
"""


def build_module() -> AnsibleModule:
    return AnsibleModule(
        argument_spec=dict(
            python=dict(type="path", required=True),
            service=dict(type="str", default="the service"),
            floors=dict(type="dict", default={}),
            require_driver=dict(type="bool", default=False),
            fail_on_problem=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )


def gather(module: AnsibleModule, python: str) -> dict:
    """Run the helper with PYTHON; fail the module when it gives no answer."""
    service = module.params["service"]
    if not os.path.isabs(python) or not os.access(python, os.X_OK):
        module.fail_json(
            msg=f"{service}: python {python} does not exist or is not executable "
            "(oslo_messaging_zmq_services.<service>.python)"
        )
    try:
        proc = subprocess.run(
            [python, "-I", "-c", HELPER],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        module.fail_json(msg=f"{service}: cannot run {python}: {to_native(exc)}")
    lines = proc.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        module.fail_json(
            msg=f"{service}: {python} gave no answer (exit code {proc.returncode}); is it "
            "Python 3?",
            stderr=proc.stderr[-2000:],
        )
    return {}


def main() -> None:
    module = build_module()
    params = module.params
    floors = {str(k): str(v) for k, v in params["floors"].items()}
    facts = gather(module, params["python"])
    found = driver_env.problems(facts, floors, params["require_driver"])
    missing = "oslo.messaging is not importable"
    if facts.get("oslo_messaging_error"):
        found = [f"{p} ({facts['oslo_messaging_error']})" if p == missing else p for p in found]
    result = {
        "changed": False,
        "python_version": facts.get("python_version"),
        "packages": facts.get("packages") or {},
        "libzmq_version": facts.get("libzmq_version"),
        "driver_version": facts.get("driver_version"),
        "driver_digest": facts.get("driver_digest"),
        "entry_point": facts.get("entry_point"),
        "problems": found,
    }
    if found and params["fail_on_problem"]:
        stage = "after installing the driver" if params["require_driver"] else "before install"
        module.fail_json(
            msg=f"{params['service']} ({params['python']}), {stage}: " + "; ".join(found),
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
