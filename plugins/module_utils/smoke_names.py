# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Names of what a smoke run creates: PREFIX-YYYYmmddTHHMMSSZ-TOKEN[-KIND].

The time in the name lets the next run tell an aborted run's leftovers (old) from what another
runner is using right now (recent), without any shared state.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

STAMP = "%Y%m%dT%H%M%SZ"


def run_name(prefix: str, when: datetime, token: str) -> str:
    """The run's name; every resource of the run is this plus '-KIND'."""
    return f"{prefix}-{when.astimezone(UTC).strftime(STAMP)}-{token}"


def started(prefix: str, name: str) -> datetime | None:
    """When the run that created NAME started, or None when NAME is not a smoke run's."""
    match = re.fullmatch(re.escape(prefix) + r"-(\d{8}T\d{6}Z)-[0-9a-z]+(?:-.*)?", name or "")
    if not match:
        return None
    return datetime.strptime(match.group(1), STAMP).replace(tzinfo=UTC)


def is_leftover(prefix: str, name: str, now: datetime, older_than: float) -> bool:
    """NAME belongs to a smoke run that started more than OLDER_THAN seconds before NOW."""
    when = started(prefix, name)
    return when is not None and (now - when).total_seconds() > older_than
