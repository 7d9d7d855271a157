#!/usr/bin/python
# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: oslo_messaging_ping
short_description: Send oslo.messaging calls, casts or notifications through a service's transport
version_added: 0.1.0
description:
  - Reads the transport configuration of an OpenStack service from its config files (for example
    C(/etc/nova/nova.conf)) and sends real oslo.messaging messages through it, exactly as the
    service would, then reports the outcome and the latency.
  - RPC kinds use C([DEFAULT] transport_url); V(notify) uses C([oslo_messaging_notifications]
    transport_url) (or C([DEFAULT]) when unset) and the configured notification driver. Driver
    sections such as C([oslo_messaging_zmq]) (CURVE key paths) are honoured as well.
  - oslo.messaging and the transport driver live in the service's Python environment, not in the
    interpreter that runs Ansible modules, so the messages are sent by a small helper program run
    with O(python). The request reaches it on standard input and the answer comes back as JSON;
    nothing is written to disk and message bodies are never logged.
  - A call to the default O(method) V(oslo_rpc_server_ping) is answered with V(pong) by any
    oslo.messaging RPC server of the topic that runs with C(rpc_ping_enabled = true) in
    C([DEFAULT]).
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
      - The module only sends probe messages and changes nothing, so it runs in check mode too.
  diff_mode:
    support: none
options:
  config_files:
    description:
      - The service's configuration files, in the order the service reads them (each is passed as
        C(--config-file) to oslo.config; later files override earlier ones).
    type: list
    elements: path
    required: true
  python:
    description:
      - Python interpreter of the service's environment, the one that can import oslo.messaging
        and the transport driver, for example C(/openstack/venvs/nova/bin/python). A bare name is
        looked up in E(PATH).
    type: str
    default: python3
  kind:
    description:
      - V(call) sends an RPC call and waits for the answer; V(cast) sends a one-way RPC message to
        one server; V(fanout) sends a cast to every server of O(topic); V(notify) sends a
        notification.
      - For V(cast), V(fanout) and V(notify) success means the transport accepted the message.
    type: str
    choices: [call, cast, fanout, notify]
    default: call
  topic:
    description:
      - RPC topic (for example V(conductor) or V(compute)). Required for V(call), V(cast) and
        V(fanout).
      - For V(notify) the notification topic; default is C([oslo_messaging_notifications] topics)
        of the config.
    type: str
  server:
    description:
      - Send to this one server of O(topic) (for example a compute host name) instead of any
        server of the topic. Only for V(call) and V(cast).
    type: str
  exchange:
    description:
      - Exchange to send to. Default is C(control_exchange) of the config. Services that set their
        own exchange in code need it here, for example V(nova), V(cinder) or V(neutron).
    type: str
  method:
    description:
      - RPC method to invoke (V(call), V(cast), V(fanout)).
    type: str
    default: oslo_rpc_server_ping
  args:
    description:
      - Keyword arguments of the RPC method, or the payload of a notification.
      - Given to the helper on standard input; the module never logs it, but like any task
        argument it shows in verbose output; use C(no_log) on the task for sensitive data.
    type: dict
    default: {}
  timeout:
    description:
      - Seconds to wait for each answer (V(call)) or for the transport to accept each message.
    type: float
    default: 10
  count:
    description:
      - Number of messages to send, one after another. The latency values summarize all of them.
        The first failure ends the run.
    type: int
    default: 1
  notify_priority:
    description:
      - Priority of the notification (V(notify)).
    type: str
    choices: [audit, critical, debug, error, info, sample, warn, warning]
    default: info
  publisher_id:
    description:
      - Publisher id of the notification (V(notify)).
    type: str
    default: zeromq.openstack.ping
  event_type:
    description:
      - Event type of the notification (V(notify)).
    type: str
    default: zeromq.openstack.ping
  fail_on_error:
    description:
      - Fail the task when a message is not delivered or answered. With V(false) the task
        succeeds and RV(ok), RV(error) and RV(msg) tell what happened.
      - Bad input (a missing config file, an interpreter without oslo.messaging) always fails.
    type: bool
    default: true
notes:
  - The helper program runs as the user of the task. That user must be able to read the config
    files and the key files they name (the secret key file is often mode V(0600)), so the task
    usually needs C(become).
  - The first message of a run includes connecting to the transport; use O(count) greater than 1
    to see steady-state latency in RV(latency_min_ms).
  - Supports any oslo.messaging transport the service uses (zmq, rabbit, ...), so it also verifies
    a rollback to RabbitMQ.
  - The helper runs in Python's isolated mode (C(python -I)), so E(PYTHONPATH) and the user's site
    directory do not leak into it; point O(python) at the interpreter of the service's own
    environment. C(OS_*) option variables that oslo.config reads are honoured.
seealso:
  - module: zeromq.openstack.curve_keypair
"""

EXAMPLES = r"""
- name: Ping nova-conductor through the transport nova-api uses
  zeromq.openstack.oslo_messaging_ping:
    config_files:
      - /etc/nova/nova.conf
    python: /openstack/venvs/nova/bin/python
    exchange: nova
    topic: conductor
    count: 5
  become: true
  register: conductor_ping

- name: Show the latency
  ansible.builtin.debug:
    msg: "{{ conductor_ping.latency_ms }} ms (min {{ conductor_ping.latency_min_ms }})"

- name: Call one compute service directly, without failing the play
  zeromq.openstack.oslo_messaging_ping:
    config_files: [/etc/nova/nova.conf]
    exchange: nova
    topic: compute
    server: compute-1
    timeout: 5
    fail_on_error: false
  become: true
  register: compute_ping

- name: Send a fanout cast to every cinder-scheduler
  zeromq.openstack.oslo_messaging_ping:
    config_files: [/etc/cinder/cinder.conf]
    kind: fanout
    exchange: cinder
    topic: cinder-scheduler
  become: true

- name: Send a notification as glance would
  zeromq.openstack.oslo_messaging_ping:
    config_files: [/etc/glance/glance-api.conf]
    kind: notify
    event_type: zeromq.openstack.test
    args:
      note: smoke test
  become: true
"""

RETURN = r"""
ok:
  description: Whether every message was delivered (and, for V(call), answered).
  returned: always
  type: bool
  sample: true
latency_ms:
  description: Average latency of the successful messages in milliseconds; V(null) when none.
  returned: always
  type: float
  sample: 1.84
latency_min_ms:
  description: Lowest latency in milliseconds; V(null) when no message succeeded.
  returned: always
  type: float
  sample: 0.91
latency_max_ms:
  description: Highest latency in milliseconds; V(null) when no message succeeded.
  returned: always
  type: float
  sample: 4.02
latencies_ms:
  description: Latency of each successful message, in order.
  returned: always
  type: list
  elements: float
  sample: [4.02, 0.91, 0.6]
succeeded:
  description: Number of messages delivered (and answered, for V(call)).
  returned: always
  type: int
  sample: 3
result:
  description:
    - Return value of the last successful V(call), converted to JSON data (other values to their
      text). V(null) for the other kinds.
  returned: always
  type: raw
  sample: pong
error:
  description:
    - Class name of the error that ended the run, for example V(MessagingTimeout), the remote
      exception's class (V(NoSuchMethod)) or V(ConfigFilesNotFoundError). V(null) on success.
  returned: always
  type: str
  sample: MessagingTimeout
msg:
  description: What happened, in words.
  returned: always
  type: str
  sample: "call to topic conductor: 3 of 3 answered"
stage:
  description:
    - Where a failed run stopped; V(import) (oslo.messaging missing in O(python)), V(config)
      (the config files cannot be parsed), V(transport) (the transport cannot be loaded) or
      V(send).
  returned: when RV(ok) is false
  type: str
  sample: send
transport:
  description: The transport URL used, with passwords replaced by C(****).
  returned: always
  type: str
  sample: "zmq://proxy1:9501,proxy2:9501/"
"""

import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.common.text.converters import to_native  # noqa: E402

RPC_KINDS = ("call", "cast", "fanout")
PRIORITIES = ("audit", "critical", "debug", "error", "info", "sample", "warn", "warning")

# The program run with the service's interpreter. Kept compatible with Python 3.6+ and using only
# oslo.messaging's public API. It reads one JSON request on stdin and writes one JSON answer on
# stdout; everything the libraries print goes to stderr.
HELPER = r'''
import json
import logging
import os
import re
import sys
import threading
import time


class ProbeError(Exception):
    def __init__(self, name, text):
        Exception.__init__(self, text)
        self.name = name


class ErrorRecords(logging.Handler):
    def __init__(self):
        logging.Handler.__init__(self, logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def mask_url(url):
    if not url:
        return url
    url = re.sub(r"(?<=[/,])([^:/@,?]*):([^@/,?]*)@", r"\1:****@", url)
    return re.sub(r"([?&][^=&]*(?:pass|secret|token)[^=&]*=)[^&]*", r"\1****", url, flags=re.I)


def error_name(exc):
    if isinstance(exc, ProbeError):
        return exc.name
    remote = getattr(exc, "exc_type", None)
    if remote:
        return str(remote)
    name = type(exc).__name__
    if name.endswith("_Remote"):
        name = name[:-len("_Remote")]
    return name


def error_text(exc):
    value = getattr(exc, "value", None)
    text = str(value if value is not None else exc).strip()
    return text.splitlines()[0] if text else ""


def bounded(func, seconds):
    """Run func in a daemon thread for at most seconds: (finished, value, exception)."""
    box = {}

    def target():
        try:
            box["value"] = func()
        except Exception as exc:
            box["exc"] = exc

    thread = threading.Thread(target=target, name="ping-send", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        return False, None, None
    return True, box.get("value"), box.get("exc")


def jsonable(value):
    return json.loads(json.dumps(value, default=str))


def load_conf(req):
    from oslo_config import cfg
    from oslo_messaging import opts as om_opts

    # The global CONF, as services use: parts of oslo.messaging register options only there.
    conf = cfg.CONF
    for group, opts in om_opts.list_opts():
        conf.register_opts(opts, group=group)
    argv = []
    for path in req["config_files"]:
        argv.extend(["--config-file", path])
    conf(argv, project="oslo_messaging_ping", default_config_files=[], default_config_dirs=[])
    if req.get("exchange"):
        conf.set_override("control_exchange", req["exchange"])
    return conf


def rpc_sender(om, transport, req):
    target = om.Target(topic=req["topic"], server=req.get("server"), exchange=req.get("exchange"))
    client = om.get_rpc_client(transport, target, timeout=req["timeout"])
    if req["kind"] == "fanout":
        client = client.prepare(fanout=True)
    method, args = req["method"], req["args"]
    if req["kind"] == "call":
        return lambda: client.call({}, method, **args)
    return lambda: client.cast({}, method, **args)


def notify_sender(om, conf, transport, req):
    section = conf.oslo_messaging_notifications
    drivers = [name for name in section.driver if name in ("messaging", "messagingv2")]
    if not drivers:
        raise ProbeError(
            "NotificationsDisabled",
            "no messaging notification driver in [oslo_messaging_notifications] driver "
            "(configured: %s)" % (", ".join(section.driver) or "none"),
        )
    topics = [req["topic"]] if req.get("topic") else list(section.topics)
    notifier = om.Notifier(
        transport,
        publisher_id=req["publisher_id"],
        driver="messagingv2" if "messagingv2" in drivers else "messaging",
        topics=topics,
    )
    # Notifier swallows send errors and logs them: turn those log records into failures.
    errors = ErrorRecords()
    logging.getLogger("oslo_messaging.notify.notifier").addHandler(errors)
    send = getattr(notifier, req["notify_priority"])

    def notify():
        seen = len(errors.records)
        send({}, req["event_type"], req["args"])
        if len(errors.records) > seen:
            record = errors.records[-1]
            if record.exc_info and record.exc_info[1] is not None:
                raise record.exc_info[1]
            raise ProbeError("NotificationFailed", record.getMessage())

    return notify


def probe(req, answer):
    try:
        import oslo_messaging as om
    except ImportError as exc:
        answer.update(stage="import", error=type(exc).__name__,
                      msg="%s cannot import oslo_messaging: %s" % (sys.executable, exc))
        return
    try:
        conf = load_conf(req)
    except Exception as exc:
        answer.update(stage="config", error=error_name(exc), msg=error_text(exc))
        return
    notify = req["kind"] == "notify"
    url = conf.transport_url
    if notify:
        url = conf.oslo_messaging_notifications.transport_url or url
    answer["transport"] = mask_url(url)
    try:
        if notify:
            transport = om.get_notification_transport(conf)
        else:
            transport = om.get_rpc_transport(conf)
    except Exception as exc:
        answer.update(stage="transport", error=error_name(exc), msg=error_text(exc))
        return
    try:
        if notify:
            send = notify_sender(om, conf, transport, req)
        else:
            send = rpc_sender(om, transport, req)
        # A call has its own timeout; the guard only catches a transport that never returns.
        guard = req["timeout"] + (5 if req["kind"] == "call" else 0)
        latencies = answer["latencies_ms"]
        for number in range(req["count"]):
            start = time.monotonic()
            finished, value, exc = bounded(send, guard)
            elapsed = (time.monotonic() - start) * 1000.0
            if not finished:
                answer.update(stage="send", error="MessagingTimeout",
                              msg="message %d not accepted within %s s" % (number + 1, guard))
                return
            if exc is not None:
                answer.update(stage="send", error=error_name(exc), msg=error_text(exc))
                return
            latencies.append(round(elapsed, 3))
            if req["kind"] == "call":
                answer["result"] = jsonable(value)
        answer["ok"] = True
    except Exception as exc:
        answer.update(stage="send", error=error_name(exc), msg=error_text(exc))
    finally:
        bounded(transport.cleanup, 10)


def main():
    request = json.loads(sys.stdin.read())
    out = sys.stdout
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    answer = {"ok": False, "latencies_ms": [], "result": None, "error": None, "msg": "",
              "transport": None, "stage": None}
    try:
        probe(request, answer)
    except Exception as exc:
        answer.update(error=error_name(exc), msg=error_text(exc))
    out.write(json.dumps(answer) + "\n")
    out.flush()
    sys.stderr.flush()
    # Driver threads must not keep the helper alive.
    os._exit(0)


if __name__ == "__main__":
    main()
'''


def build_module() -> AnsibleModule:
    return AnsibleModule(
        argument_spec=dict(
            config_files=dict(type="list", elements="path", required=True),
            python=dict(type="str", default="python3"),
            kind=dict(type="str", default="call", choices=["call", "cast", "fanout", "notify"]),
            topic=dict(type="str"),
            server=dict(type="str"),
            exchange=dict(type="str"),
            method=dict(type="str", default="oslo_rpc_server_ping"),
            args=dict(type="dict", default={}),
            timeout=dict(type="float", default=10),
            count=dict(type="int", default=1),
            notify_priority=dict(type="str", default="info", choices=list(PRIORITIES)),
            publisher_id=dict(type="str", default="zeromq.openstack.ping"),
            event_type=dict(type="str", default="zeromq.openstack.ping"),
            fail_on_error=dict(type="bool", default=True),
        ),
        required_if=[("kind", kind, ["topic"]) for kind in RPC_KINDS],
        supports_check_mode=True,
    )


def check_input(module: AnsibleModule) -> str:
    """Validate what the argument spec cannot; return the interpreter's path."""
    params = module.params
    if params["count"] < 1:
        module.fail_json(msg="count must be at least 1")
    if params["timeout"] <= 0:
        module.fail_json(msg="timeout must be greater than 0")
    if params["kind"] in RPC_KINDS and not params["topic"]:
        module.fail_json(msg=f"topic is required for kind {params['kind']}")
    if params["server"] and params["kind"] not in ("call", "cast"):
        module.fail_json(msg=f"server applies to kind call and cast, not {params['kind']}")
    if not params["config_files"]:
        module.fail_json(msg="config_files must name at least one file")
    for path in params["config_files"]:
        if not os.path.isfile(path):
            module.fail_json(msg=f"config file {path} does not exist or is not a file")
        if not os.access(path, os.R_OK):
            module.fail_json(msg=f"config file {path} is not readable by this user")
    python = params["python"]
    if os.sep in python:
        if not os.access(python, os.X_OK):
            module.fail_json(msg=f"python interpreter {python} does not exist or is not executable")
        return python
    found = module.get_bin_path(python)
    if not found:
        module.fail_json(msg=f"python interpreter {python} not found in PATH")
    return found


def describe(params: dict) -> str:
    if params["kind"] == "notify":
        topic = params["topic"] or "the configured notification topics"
        return f"notification to {topic}"
    target = f"topic {params['topic']}"
    if params["server"]:
        target += f" server {params['server']}"
    if params["exchange"]:
        target += f" (exchange {params['exchange']})"
    return f"{params['kind']} to {target}"


def run_helper(module: AnsibleModule, python: str) -> dict:
    params = module.params
    request = {
        key: params[key]
        for key in (
            "config_files",
            "kind",
            "topic",
            "server",
            "exchange",
            "method",
            "args",
            "timeout",
            "count",
            "notify_priority",
            "publisher_id",
            "event_type",
        )
    }
    # Interpreter start and transport clean-up on top of the per-message guards.
    limit = 60 + params["count"] * (params["timeout"] + 5)
    # subprocess.run rather than module.run_command: the helper needs a hard time limit.
    try:
        proc = subprocess.run(
            [python, "-I", "-c", HELPER],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=limit,
            check=False,
        )
    except subprocess.TimeoutExpired:
        module.fail_json(msg=f"the helper run with {python} did not finish within {limit:.0f} s")
    except OSError as exc:
        module.fail_json(msg=f"cannot run {python}: {to_native(exc)}")
    lines = proc.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1])
    except (IndexError, ValueError):
        module.fail_json(
            msg=f"the helper run with {python} gave no answer (exit code {proc.returncode})",
            stderr=proc.stderr[-2000:],
        )
    return answer


def summarize(params: dict, answer: dict) -> dict:
    latencies = answer.get("latencies_ms") or []
    result = {
        "changed": False,
        "ok": bool(answer.get("ok")),
        "latencies_ms": latencies,
        "latency_ms": round(sum(latencies) / len(latencies), 3) if latencies else None,
        "latency_min_ms": min(latencies) if latencies else None,
        "latency_max_ms": max(latencies) if latencies else None,
        "succeeded": len(latencies),
        "result": answer.get("result"),
        "error": answer.get("error"),
        "transport": answer.get("transport"),
    }
    what = describe(params)
    if result["ok"]:
        verb = "answered" if params["kind"] == "call" else "accepted"
        result["msg"] = f"{what}: {len(latencies)} of {params['count']} {verb}"
        return result
    detail = answer.get("msg") or ""
    if result["error"] == "NoSuchMethod" and params["method"] == "oslo_rpc_server_ping":
        detail += " (the server needs rpc_ping_enabled = true in [DEFAULT])"
    stage = answer.get("stage")
    if stage in ("import", "config", "transport"):
        result["msg"] = f"{what}: {stage} failed: {result['error']}: {detail}"
    else:
        result["msg"] = (
            f"{what} failed after {len(latencies)} of {params['count']}: "
            f"{result['error']}: {detail}"
        )
    result["stage"] = stage
    return result


def main() -> None:
    module = build_module()
    python = check_input(module)
    answer = run_helper(module, python)
    result = summarize(module.params, answer)
    # A helper that cannot even load oslo.messaging or the config is bad input, not a lost
    # message: it fails regardless of fail_on_error.
    if not result["ok"] and (
        module.params["fail_on_error"] or result.get("stage") in ("import", "config")
    ):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
