"""RabbitMQ definitions (virtual host, users, rights) for one `rabbitmqctl import_definitions`."""

from __future__ import annotations

import base64
import hashlib
import hmac


def password_hash(password: str, salt: bytes) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def stable_salt(password: str, name: str) -> bytes:
    """4 bytes derived from the password and the user's name, not drawn at random, so that a
    run with the same passwords writes the same file and skips the import."""
    return hmac.new(password.encode(), name.encode(), hashlib.sha256).digest()[:4]


def rabbitmq_definitions(users: list[dict], vhost: str) -> dict:
    """Definitions giving each of users ({name, password}) full rights on vhost."""
    if not vhost:
        raise ValueError("rabbitmq_definitions: the virtual host name is empty")
    out = {"vhosts": [{"name": vhost}], "users": [], "permissions": []}
    for user in users:
        name, password = user.get("name"), user.get("password")
        if not name or not password:
            raise ValueError(f"rabbitmq_definitions: user {name!r} needs a name and a password")
        out["users"].append(
            {
                "name": name,
                "password_hash": password_hash(password, stable_salt(password, name)),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": [],
            }
        )
        out["permissions"].append(
            {"user": name, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}
        )
    return out


class FilterModule:
    def filters(self):
        return {"rabbitmq_definitions": rabbitmq_definitions}
