#!/usr/bin/python
# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: nova_cell_transport
short_description: Point nova's cell mappings at a messaging transport
version_added: 0.1.0
description:
  - nova keeps a transport URL per cell in its API database. nova-api and the super-conductor
    reach a cell's conductors and computes through that URL, not through their own
    C([DEFAULT] transport_url), so switching a cloud's messaging means changing it too.
    Deployment tools create C(cell1) with a literal RabbitMQ URL.
  - Reads the cells with C(nova-manage cell_v2 list_cells --verbose), run with the service's
    config files as the service's user, and sets O(transport_url) on every cell but cell0
    (which has no transport) with C(nova-manage cell_v2 update_cell). Idempotent.
  - The URL reaches nova-manage in an extra config file (mode 0600, removed afterwards) rather
    than on its command line, and that file also blanks C([database] connection), since
    C(update_cell) would otherwise overwrite the cell's database URL with the one in the
    config files.
  - Passwords in URLs (the new one, the cells' current ones, the database URLs) never appear
    in the module's results, diff or messages.
  - nova only reads cell mappings at start; restart nova-api, nova-conductor and
    nova-scheduler after a change.
  - A literal multi-host URL such as C(zmq://p1:9501,p2:9501/) is stored and used as it is. A
    template URL (C({scheme}://{hostname}:{port}/{path})) is formatted by nova against the
    service's own transport URL, and nova 31 cannot format against a multi-host URL without
    credentials (C(urlparse(url).port) raises); the module therefore replaces a template whose
    formatted value differs from O(transport_url) with the literal URL.
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
      - Only lists the cells and reports which would change.
  diff_mode:
    support: full
options:
  transport_url:
    description:
      - The transport URL every chosen cell must have, for example
        C(zmq://ctl1:9501,ctl2:9501/) or C(rabbit://nova:secret@ctl1:5672/nova).
    type: str
    required: true
  config_files:
    description:
      - nova's config files, in the order the services read them (each is passed to
        nova-manage as C(--config-file)); they name the API database.
    type: list
    elements: path
    required: true
  nova_manage:
    description:
      - Path of nova-manage, or a name looked up in E(PATH). It sits next to nova's
        interpreter, so C(/usr/bin/nova-manage) for distribution packages and
        C(VENV/bin/nova-manage) for a virtualenv.
    type: str
    default: nova-manage
  user:
    description:
      - Run nova-manage as this user (nova's own, so the log files it writes stay nova's). The
        task must run as root for that. Default is the task's user.
    type: str
  cells:
    description:
      - Names or UUIDs of the cells to change. Default is every cell but cell0.
      - nova refuses one transport URL for two cells, so with several cells name one per task,
        each with its own URL.
    type: list
    elements: str
  timeout:
    description:
      - Seconds each nova-manage run may take.
    type: int
    default: 120
notes:
  - nova-manage loads the messaging driver of the config's C([DEFAULT] transport_url), and of
    O(transport_url) while updating, so the ZeroMQ driver must be installed in nova's Python
    before the cells are pointed at C(zmq://).
seealso:
  - module: zeromq.openstack.oslo_messaging_ping
"""

EXAMPLES = r"""
- name: Point nova's cells at the ZeroMQ proxies
  zeromq.openstack.nova_cell_transport:
    transport_url: zmq://ctl1:9501,ctl2:9501/
    config_files: [/etc/nova/nova.conf]
    nova_manage: /usr/bin/nova-manage
    user: nova
  become: true

- name: Back to RabbitMQ (the password stays out of the results)
  zeromq.openstack.nova_cell_transport:
    transport_url: "rabbit://nova:{{ nova_rabbit_password | urlencode }}@ctl1:5672/nova"
    config_files: [/openstack/venvs/nova/etc/nova/nova.conf]
    nova_manage: /openstack/venvs/nova/bin/nova-manage
    user: nova
    cells: [cell1]
  become: true
"""

RETURN = r"""
cells:
  description: The chosen cells after the run (in check mode, as they are), passwords masked.
  returned: success
  type: list
  elements: dict
  sample:
    - name: cell1
      uuid: 7a4b3c1e-9d2f-4e5a-8b6c-1d2e3f4a5b6c
      transport_url: zmq://ctl1:9501,ctl2:9501/
      changed: true
      previous_transport_url: "rabbit://openstack:****@ctl1:5672/"
transport_url:
  description: The wanted URL, passwords masked.
  returned: always
  type: str
  sample: zmq://ctl1:9501,ctl2:9501/
"""

import os  # noqa: E402
import pwd  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.common.text.converters import to_native  # noqa: E402
from ansible_collections.zeromq.openstack.plugins.module_utils import nova_cells  # noqa: E402


def build_module() -> AnsibleModule:
    return AnsibleModule(
        argument_spec=dict(
            transport_url=dict(type="str", required=True),
            config_files=dict(type="list", elements="path", required=True),
            nova_manage=dict(type="str", default="nova-manage"),
            user=dict(type="str"),
            cells=dict(type="list", elements="str"),
            timeout=dict(type="int", default=120),
        ),
        supports_check_mode=True,
    )


class NovaManage:
    """Runs nova-manage with the service's config files, as the service's user."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        params = module.params
        self.timeout = params["timeout"]
        self.binary = self._find(params["nova_manage"])
        self.account = self._account(params["user"])
        self.base = [self.binary]
        for path in params["config_files"]:
            if not os.path.isfile(path):
                module.fail_json(msg=f"nova config file {path} does not exist")
            self.base += ["--config-file", path]

    def _find(self, name: str) -> str:
        if os.sep in name:
            if not os.access(name, os.X_OK):
                self.module.fail_json(msg=f"nova-manage {name} does not exist or is not executable")
            return name
        found = self.module.get_bin_path(name)
        if not found:
            self.module.fail_json(msg=f"{name} not found in PATH; set nova_manage")
        return found

    def _account(self, user: str | None):
        if not user:
            return None
        try:
            account = pwd.getpwnam(user)
        except KeyError:
            self.module.fail_json(msg=f"user {user} does not exist")
        if account.pw_uid == os.geteuid():
            return None
        if os.geteuid() != 0:
            self.module.fail_json(msg=f"running nova-manage as {user} needs root (become)")
        return account

    def run(self, args: list[str], extra_config: str | None = None) -> subprocess.CompletedProcess:
        argv = list(self.base)
        if extra_config:
            argv += ["--config-file", extra_config]
        argv += args
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            # Untranslated output: the table is read by position, messages by the operator.
            "LC_ALL": "C.UTF-8",
            "HOME": self.account.pw_dir if self.account else os.environ.get("HOME", "/"),
        }
        kwargs = {}
        if self.account:
            kwargs = {
                "user": self.account.pw_uid,
                "group": self.account.pw_gid,
                "extra_groups": os.getgrouplist(self.account.pw_name, self.account.pw_gid),
            }
        try:
            return subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                env=env,
                cwd="/",
                check=False,
                **kwargs,
            )
        except subprocess.TimeoutExpired:
            self.module.fail_json(msg=f"nova-manage {' '.join(args)} ran over {self.timeout} s")
        except OSError as exc:
            self.module.fail_json(msg=f"cannot run {self.binary}: {to_native(exc)}")
        raise AssertionError("unreachable")

    def fail(self, what: str, proc: subprocess.CompletedProcess, **extra) -> None:
        # stdout/stderr may quote URLs: AnsibleModule masks every value in no_log_values.
        self.module.fail_json(
            msg=f"nova-manage {what} failed (exit code {proc.returncode}): "
            + (proc.stdout.strip().splitlines() or proc.stderr.strip().splitlines() or [""])[-1],
            stdout=proc.stdout[-2000:],
            stderr=proc.stderr[-2000:],
            **extra,
        )

    def list_cells(self) -> list[dict]:
        proc = self.run(["cell_v2", "list_cells", "--verbose"])
        # Hide every password of the table before anything can be returned.
        for line in proc.stdout.splitlines():
            for word in line.split("|"):
                self.module.no_log_values.update(nova_cells.url_secrets(word.strip()))
        if proc.returncode != 0:
            self.fail("cell_v2 list_cells", proc)
        try:
            return nova_cells.parse_cells(proc.stdout)
        except nova_cells.CellError as exc:
            self.fail(f"cell_v2 list_cells output could not be read ({exc})", proc)
        return []

    def update_cell(self, uuid: str, transport_url: str) -> None:
        workdir = tempfile.mkdtemp(prefix="nova-cell-transport-")
        try:
            path = os.path.join(workdir, "transport.conf")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as conf:
                conf.write(
                    "# zeromq.openstack.nova_cell_transport: the cell's new transport; an\n"
                    "# empty [database] connection keeps update_cell off the cell's DB URL.\n"
                    "[DEFAULT]\n"
                    f"transport_url = {nova_cells.ini_value(transport_url)}\n"
                    "[database]\n"
                    "connection =\n"
                )
            if self.account:
                for item in (workdir, path):
                    os.chown(item, self.account.pw_uid, self.account.pw_gid)
            proc = self.run(["cell_v2", "update_cell", "--cell_uuid", uuid], extra_config=path)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if proc.returncode != 0:
            reasons = {1: "no such cell", 3: "another cell already has this transport URL"}
            reason = reasons.get(proc.returncode)
            what = f"cell_v2 update_cell --cell_uuid {uuid}"
            self.fail(what + (f" ({reason})" if reason else ""), proc)


def main() -> None:
    module = build_module()
    params = module.params
    wanted = params["transport_url"]
    module.no_log_values.update(nova_cells.url_secrets(wanted))
    try:
        nova_cells.ini_value(wanted)
    except nova_cells.CellError as exc:
        module.fail_json(msg=str(exc))
    result = {"changed": False, "transport_url": nova_cells.mask_url(wanted)}

    nova = NovaManage(module)
    try:
        chosen = nova_cells.plan(nova.list_cells(), params["cells"], wanted)
    except nova_cells.CellError as exc:
        module.fail_json(msg=str(exc), **result)
    changing = [c for c in chosen if c["change"]]
    before = nova_cells.describe(chosen)
    after = nova_cells.describe([dict(c, transport_url=wanted) for c in chosen])

    if changing and not module.check_mode:
        for cell in changing:
            nova.update_cell(cell["uuid"], wanted)
        now = {c["uuid"]: c for c in nova.list_cells()}
        for cell in changing:
            seen = now.get(cell["uuid"], {}).get("transport_url")
            if seen != wanted:
                module.fail_json(
                    msg=f"nova-manage updated cell {cell['name'] or cell['uuid']}, but it now "
                    f"reads {nova_cells.mask_url(seen)}",
                    **result,
                )

    result["changed"] = bool(changing)
    result["cells"] = [
        {
            "name": c["name"],
            "uuid": c["uuid"],
            "transport_url": nova_cells.mask_url(
                wanted if c["change"] and not module.check_mode else c["transport_url"]
            ),
            "changed": c["change"],
            "previous_transport_url": nova_cells.mask_url(c["transport_url"]),
        }
        for c in chosen
    ]
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
