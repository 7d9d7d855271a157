#!/usr/bin/python
# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: curve_keypair
short_description: Manage a ZeroMQ CURVE key pair in the oslo.messaging zmq driver's file format
version_added: 0.1.0
description:
  - Creates, keeps or removes a ZeroMQ CURVE key pair on the managed host as two files in O(path),
    in the format that C(oslo-messaging-zmq-keygen) writes and the oslo.messaging zmq driver and
    its proxy read (ZeroMQ certificate text, also readable by C(zmq.auth.load_certificate)).
  - C(NAME.key) holds the public key (mode V(0644)); C(NAME.key_secret) holds the public and the
    secret key (mode O(mode), V(0600) by default).
  - An existing valid pair is kept, so the task is idempotent. A missing or stale public key file
    is rewritten from the secret key file.
  - Keys are computed in pure Python (X25519 from RFC 7748, Z85 from ZeroMQ RFC 32); the managed
    host needs neither pyzmq nor libsodium.
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
      - In check mode a key pair that would be generated is not known yet, so RV(public_key) is
        V(null) then.
  diff_mode:
    support: partial
    details:
      - The diff shows the state, the public key and file attributes. The secret key never appears
        in a diff.
options:
  path:
    description:
      - Directory of the key files. It is created (mode V(0755)) when missing.
    type: path
    required: true
  name:
    description:
      - Base name of the key files, C(NAME.key) and C(NAME.key_secret).
      - Letters, digits, V(_), V(.) and V(-); it must not start with V(.).
    type: str
    required: true
  state:
    description:
      - V(present) makes sure a valid key pair exists; V(absent) removes both files.
    type: str
    choices: [present, absent]
    default: present
  secret_key:
    description:
      - Install this key pair instead of generating one. The value is the Z85 text (40 characters)
        of a CURVE secret key; the public key is computed from it.
      - Use it to put one shared key pair on several hosts, for example on every proxy.
      - Files holding another pair (or damaged files) are replaced.
      - Mutually exclusive with O(regenerate=true).
    type: str
  regenerate:
    description:
      - Generate a new key pair even when a valid one exists (key rotation), and replace damaged
        key files instead of failing. The task then reports a change on every run.
    type: bool
    default: false
  owner:
    description:
      - Owner of both key files. Default is the user running the module.
    type: str
  group:
    description:
      - Group of both key files. Default is the group of the user running the module.
    type: str
  mode:
    description:
      - Permissions of the secret key file, octal (V("0640")) or symbolic (V(u=rw,g=r)).
      - The public key file always gets V(0644).
    type: raw
    default: "0600"
  return_secret:
    description:
      - Also return the secret key as RV(secret_key).
      - The task must then set C(no_log) to V(true), or the secret ends up in logs and on screen.
    type: bool
    default: false
notes:
  - A secret key file that cannot be parsed, lacks a key or whose public key does not belong to
    its secret key is an error naming the file, unless O(regenerate=true) or O(secret_key) is
    given.
  - A public key file without its secret key file is an error too (it may be another host's
    public key, for example a proxy's); remove it or set O(regenerate=true).
  - The secret key file is written through a temporary file created with mode V(0600) in the same
    directory, so the secret is never readable by others, not even for a moment.
seealso:
  - name: ZeroMQ RFC 32 (Z85)
    description: The text encoding of the keys.
    link: https://rfc.zeromq.org/spec/32/
  - name: RFC 7748
    description: X25519, the key agreement function behind CURVE keys.
    link: https://www.rfc-editor.org/rfc/rfc7748
"""

EXAMPLES = r"""
- name: Give this service host its own client key pair
  zeromq.openstack.curve_keypair:
    path: /etc/oslo-messaging-zmq/keys
    name: nova
    owner: root
    group: nova
    mode: "0640"
  register: nova_key

- name: Show the public key to add to the proxies' allowed clients
  ansible.builtin.debug:
    msg: "{{ nova_key.public_key }}"

- name: Generate the proxies' shared key pair once, on the first proxy
  zeromq.openstack.curve_keypair:
    path: /etc/oslo-messaging-zmq/keys
    name: proxy
    return_secret: true
  register: proxy_key
  no_log: true
  run_once: true

- name: Install that same pair on every proxy
  zeromq.openstack.curve_keypair:
    path: /etc/oslo-messaging-zmq/keys
    name: proxy
    secret_key: "{{ proxy_key.secret_key }}"
  no_log: true

- name: Rotate a key pair
  zeromq.openstack.curve_keypair:
    path: /etc/oslo-messaging-zmq/keys
    name: nova
    regenerate: true

- name: Remove a key pair
  zeromq.openstack.curve_keypair:
    path: /etc/oslo-messaging-zmq/keys
    name: old-service
    state: absent
"""

RETURN = r"""
public_key:
  description:
    - Z85 text of the public key (40 characters).
    - V(null) in check mode when a new pair would be generated, and with O(state=absent).
  returned: always
  type: str
  sample: "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
public_key_file:
  description: Path of the public key file (C(NAME.key)).
  returned: always
  type: str
  sample: /etc/oslo-messaging-zmq/keys/nova.key
secret_key_file:
  description: Path of the secret key file (C(NAME.key_secret)).
  returned: always
  type: str
  sample: /etc/oslo-messaging-zmq/keys/nova.key_secret
secret_key:
  description:
    - Z85 text of the secret key. Use C(no_log) on the task.
    - When the key came from O(secret_key), Ansible masks the returned value.
  returned: when O(return_secret=true), O(state=present) and the key is known (in check mode a
    key to be generated is not)
  type: str
  sample: "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
"""

import os  # noqa: E402
import tempfile  # noqa: E402
from typing import NoReturn  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.common.text.converters import to_native  # noqa: E402
from ansible_collections.zeromq.openstack.plugins.module_utils.curve import (  # noqa: E402
    CurveKeyError,
    decode_key,
    generate_keypair,
    public_from_secret,
    read_key_file,
    render_key_file,
    valid_name,
)

PUBLIC_MODE = 0o644


def build_module() -> AnsibleModule:
    return AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            secret_key=dict(type="str", no_log=True),
            regenerate=dict(type="bool", default=False),
            owner=dict(type="str"),
            group=dict(type="str"),
            mode=dict(type="raw", default="0600"),
            return_secret=dict(type="bool", default=False, no_log=False),
        ),
        supports_check_mode=True,
    )


class KeyPair:
    """The two files of one key pair and what to do with them."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        params = module.params
        self.directory = params["path"]
        base = os.path.join(self.directory, params["name"])
        self.public_file = base + ".key"
        self.secret_file = base + ".key_secret"
        self.diff: dict = {"before": {}, "after": {}}

    def fail(self, msg: str) -> NoReturn:
        self.module.fail_json(
            msg=msg, public_key_file=self.public_file, secret_key_file=self.secret_file
        )

    # -- reading ---------------------------------------------------------------
    def current_pair(self) -> tuple[str | None, str | None]:
        """(public, secret) of a valid secret key file, (None, None) when there is none.

        Raise CurveKeyError naming the file when it exists but is not a valid pair.
        """
        if not os.path.lexists(self.secret_file):
            return None, None
        keys = read_key_file(self.secret_file)
        if "secret" not in keys:
            raise CurveKeyError(f"{self.secret_file} holds no secret-key")
        public = public_from_secret(keys["secret"])
        if keys.get("public") != public:
            raise CurveKeyError(
                f"{self.secret_file}: its public-key does not belong to its secret-key"
            )
        return public, keys["secret"]

    def current_public_file_key(self) -> str | None:
        if not os.path.lexists(self.public_file):
            return None
        try:
            return read_key_file(self.public_file).get("public")
        except CurveKeyError:
            return None

    # -- writing ---------------------------------------------------------------
    def write(self, path: str, text: str, mode: int) -> None:
        """Replace path atomically; the temporary file is 0600 from its creation."""
        fd, tmp_path = tempfile.mkstemp(dir=self.directory, prefix=".curve_keypair.")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp_path, mode)
            os.replace(tmp_path, path)
        except OSError as exc:
            if os.path.exists(tmp_path):
                os.unlink(tmp_path)
            self.fail(f"cannot write {path}: {to_native(exc)}")

    def set_attributes(self, path: str, mode, changed: bool) -> bool:
        """Owner, group and mode of one existing file (check mode aware)."""
        params = self.module.params
        attr_diff: dict = {"before": {}, "after": {}}
        changed = self.module.set_owner_if_different(path, params["owner"], changed, attr_diff)
        changed = self.module.set_group_if_different(path, params["group"], changed, attr_diff)
        changed = self.module.set_mode_if_different(path, mode, changed, attr_diff)
        key = "secret_key_file" if path == self.secret_file else "public_key_file"
        if attr_diff["before"]:
            self.diff["before"][key] = attr_diff["before"]
            self.diff["after"][key] = attr_diff["after"]
        return changed

    # -- states ----------------------------------------------------------------
    def absent(self) -> dict:
        present = [p for p in (self.secret_file, self.public_file) if os.path.lexists(p)]
        self.diff["before"]["state"] = "present" if present else "absent"
        self.diff["after"]["state"] = "absent"
        if present and not self.module.check_mode:
            for path in present:
                try:
                    os.unlink(path)
                except OSError as exc:
                    self.fail(f"cannot remove {path}: {to_native(exc)}")
        return {"changed": bool(present), "public_key": None}

    def wanted_pair(self) -> tuple[str | None, str | None, bool]:
        """(public, secret, write_secret_file) for state=present."""
        params = self.module.params
        if params["secret_key"] is not None:
            try:
                decode_key(params["secret_key"])
            except CurveKeyError:
                self.fail("secret_key is not a 40-character Z85 CURVE key")
            wanted_secret = params["secret_key"]
            try:
                current_secret = self.current_pair()[1]
            except CurveKeyError:
                current_secret = None  # replaced by the given pair
            return public_from_secret(wanted_secret), wanted_secret, current_secret != wanted_secret
        if not params["regenerate"]:
            try:
                public, secret = self.current_pair()
            except CurveKeyError as exc:
                self.fail(f"invalid key file: {exc} (set regenerate=true to replace it)")
            if secret is not None:
                return public, secret, False
            if os.path.lexists(self.public_file):
                self.fail(
                    f"{self.public_file} exists without {self.secret_file}; refusing to replace it "
                    "(remove it or set regenerate=true)"
                )
        if self.module.check_mode:
            return None, None, True
        public, secret = generate_keypair()
        return public, secret, True

    def present(self) -> dict:
        module = self.module
        if os.path.exists(self.directory) and not os.path.isdir(self.directory):
            self.fail(f"path {self.directory} exists and is not a directory")
        before_public = None
        if os.path.lexists(self.secret_file):
            try:
                before_public = self.current_pair()[0]
            except CurveKeyError:
                before_public = "(invalid key file)"
        public, secret, write_secret = self.wanted_pair()
        public_in_file = self.current_public_file_key()
        write_public = write_secret or public_in_file != public
        changed = write_secret or write_public

        self.diff["before"]["state"] = "present" if before_public else "absent"
        self.diff["after"]["state"] = "present"
        self.diff["before"]["public_key"] = before_public
        self.diff["after"]["public_key"] = public if public else "(generated)"

        if not os.path.isdir(self.directory):
            changed = True
            self.diff["before"]["directory"] = "absent"
            self.diff["after"]["directory"] = "present"
            if not module.check_mode:
                try:
                    os.makedirs(self.directory, 0o755)
                except OSError as exc:
                    self.fail(f"cannot create {self.directory}: {to_native(exc)}")

        if not module.check_mode:
            if write_secret:
                self.write(self.secret_file, render_key_file(public, secret), 0o600)
            if write_public:
                self.write(self.public_file, render_key_file(public), PUBLIC_MODE)
        if not module.check_mode or not write_secret:
            changed = self.set_attributes(self.secret_file, module.params["mode"], changed)
        if not module.check_mode or not write_public:
            changed = self.set_attributes(self.public_file, PUBLIC_MODE, changed)

        result = {"changed": changed, "public_key": public}
        if module.params["return_secret"] and secret is not None:
            result["secret_key"] = secret
        return result


def main() -> None:
    module = build_module()
    if module.params["secret_key"] is not None and module.params["regenerate"]:
        module.fail_json(msg="secret_key and regenerate=true are mutually exclusive")
    if not valid_name(module.params["name"]):
        module.fail_json(
            msg="name must be letters, digits, '_', '.' or '-' and not start with '.': "
            f"{module.params['name']!r}"
        )
    pair = KeyPair(module)
    if module.params["state"] == "absent":
        result = pair.absent()
    else:
        result = pair.present()
    result.update(public_key_file=pair.public_file, secret_key_file=pair.secret_file)
    if module._diff:
        result["diff"] = pair.diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
