# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""nova's cell mappings as `nova-manage cell_v2 list_cells --verbose` prints them.

Pure functions (no I/O) for the module zeromq.openstack.nova_cell_transport: read the table,
hide the passwords in URLs, decide which cells need a new transport_url.

What nova 31 (2025.1) does, read in nova/cmd/manage.py and nova/objects/cell_mapping.py:

- ``list_cells --verbose`` prints a prettytable with the columns Name, UUID, Transport URL,
  Database Connection, Disabled, sorted by name; the URLs are shown unmasked.
- The URL it shows is ``CellMapping.format_mq_url(stored)``: when ``[DEFAULT]/transport_url``
  of the config files nova-manage read is set, nova formats the stored value against it
  (``_format_url`` does ``url.format(**subs)`` with subs from ``urlparse(default)``). A literal
  URL (no ``{``) comes back unchanged; a template like ``{scheme}://{hostname}:{port}/{path}``
  comes back filled in. ``_format_url`` reads ``urlparse(default).port`` whatever the stored
  value is, and for ``zmq://p1:9501,p2:9501/`` that raises ValueError ("Port could not be cast
  to integer value as '9501,p2:9501'"); ``format_mq_url`` catches it, logs "Failed to parse
  [DEFAULT]/transport_url to format cell mapping" with a traceback, and returns the stored
  value as it is. So a literal multi-proxy URL works, a template does not (it stays
  unformatted), and every load of a cell mapping logs that error while the service's own
  transport_url lists several proxies without credentials.
- ``update_cell --cell_uuid U`` without ``--transport-url`` takes ``[DEFAULT]/transport_url``
  of its config, and without ``--database_connection`` takes ``[database]/connection`` when
  set: it would overwrite the cell's database URL with the controller's. The module hands
  nova-manage one more config file setting the first and blanking the second, so no URL is
  on a command line and the database URL stays. update_cell exits 3 when another cell
  already has the same transport_url or database connection, 1 when the cell is unknown.
- cell0 (uuid 00000000-0000-0000-0000-000000000000) has transport ``none:///``: left alone.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

CELL0_UUID = "00000000-0000-0000-0000-000000000000"
COLUMNS = ("name", "uuid", "transport_url", "database_connection", "disabled")
UUID_RE = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE
)
MASK = "****"


class CellError(Exception):
    """The table cannot be read or the wanted change cannot be made; the text says why."""


def parse_cells(text: str) -> list[dict]:
    """The rows of list_cells' table: [{name, uuid, transport_url, database_connection,
    disabled}]. Columns are cut at the '+' of the table's border, so a '|' inside a URL
    does not shift them."""
    lines = text.splitlines()
    borders = [i for i, line in enumerate(lines) if re.match(r"^\+(-+\+)+\s*$", line)]
    if len(borders) < 2:
        raise CellError("no cell table in nova-manage's output")
    border = lines[borders[0]].rstrip()
    cuts = [i for i, char in enumerate(border) if char == "+"]
    if len(cuts) != len(COLUMNS) + 1:
        raise CellError(f"the cell table has {len(cuts) - 1} columns, expected {len(COLUMNS)}")
    rows = []
    for line in lines[borders[1] + 1 : borders[-1]]:
        if not line.startswith("|"):
            continue
        if len(line.rstrip()) != len(border) or line.rstrip()[-1] != "|":
            raise CellError("a row of the cell table does not line up with its border")
        values = [line[cuts[i] + 1 : cuts[i + 1]].strip() for i in range(len(COLUMNS))]
        row = {column: values[i] for i, column in enumerate(COLUMNS)}
        if not UUID_RE.match(row["uuid"]):
            raise CellError("a row of the cell table has no cell UUID where one belongs")
        row["disabled"] = row["disabled"] == "True"
        rows.append(row)
    return rows


def _netloc(url: str) -> tuple[str, str, str] | None:
    """(scheme, netloc, rest) of URL, the netloc running to the first '/', '?' or '#' after
    the last '@' (so a stray '/' in a password stays inside it); None without '://'."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    start = rest.rfind("@") + 1
    ends = [pos for pos in (rest.find(mark, start) for mark in "/?#") if pos != -1]
    end = min(ends) if ends else len(rest)
    return scheme, rest[:end], rest[end:]


def _userinfos(netloc: str) -> list[tuple[str, str, str]] | None:
    """(user, password, host) of each host, split as oslo.messaging does (by ',', then at the
    last '@'); None when some hosts carry credentials and others do not (a ',' or '@' in a
    password that is not percent-encoded), since the split is then not to be trusted."""
    out = []
    for host in netloc.split(","):
        userinfo, at, hostport = host.rpartition("@")
        user, colon, password = userinfo.partition(":")
        out.append((user if at else None, password if colon else "", hostport))
    with_creds = [u for u in out if u[0] is not None]
    if with_creds and len(with_creds) != len(out):
        return None
    return out


def url_secrets(url: str | None) -> set[str]:
    """The passwords in URL, raw and percent-decoded (what must never be shown)."""
    parts = _netloc(url) if url else None
    if not parts:
        return set()
    netloc = parts[1]
    infos = _userinfos(netloc)
    if infos is None:
        head = netloc.rpartition("@")[0]
        return {head, unquote(head)} - {""}
    found = set()
    for info in infos:
        password = info[1]
        if password:
            found.update({password, unquote(password)})
    return found


def mask_url(url: str | None) -> str | None:
    """URL with every password replaced by ****."""
    parts = _netloc(url) if url else None
    if not parts:
        return url
    scheme, netloc, rest = parts
    infos = _userinfos(netloc)
    if infos is None:
        return f"{scheme}://{MASK}@{netloc.rpartition('@')[2]}{rest}"
    hosts = []
    for user, password, hostport in infos:
        if user is None:
            hosts.append(hostport)
        elif password:
            hosts.append(f"{user}:{MASK}@{hostport}")
        else:
            hosts.append(f"{user}@{hostport}")
    return f"{scheme}://{','.join(hosts)}{rest}"


def select_cells(cells: list[dict], wanted: list[str] | None) -> list[dict]:
    """The cells to point at the transport: every cell but cell0, or those WANTED (by name
    or UUID). Fails when a wanted cell does not exist or when it is cell0."""
    if not wanted:
        return [c for c in cells if c["uuid"] != CELL0_UUID]
    chosen = []
    for key in wanted:
        match = [c for c in cells if key in (c["name"], c["uuid"])]
        if not match:
            known = ", ".join(c["name"] or c["uuid"] for c in cells) or "none"
            raise CellError(f"cell {key!r} is not among nova's cells ({known})")
        for cell in match:
            if cell["uuid"] == CELL0_UUID:
                raise CellError("cell0 has no transport; it cannot be pointed at one")
            if cell not in chosen:
                chosen.append(cell)
    return chosen


def plan(cells: list[dict], wanted: list[str] | None, transport_url: str) -> list[dict]:
    """The chosen cells with 'change' set where their transport_url differs.

    nova refuses one transport_url for two cells (update_cell exits 3), so more than one
    chosen cell is an error.
    """
    chosen = select_cells(cells, wanted)
    if len(chosen) > 1:
        names = ", ".join(c["name"] or c["uuid"] for c in chosen)
        raise CellError(
            f"cells {names} would share one transport URL, which nova-manage refuses "
            "(update_cell exits 3); give each cell its own URL (for example its own virtual "
            "host) and name one cell per task with 'cells'"
        )
    return [dict(c, change=c["transport_url"] != transport_url) for c in chosen]


def describe(cells: list[dict], url_key: str = "transport_url") -> str:
    """One line per cell, 'name (uuid): masked URL', for diffs and messages."""
    return "".join(f"{c['name'] or '-'} ({c['uuid']}): {mask_url(c[url_key])}\n" for c in cells)


def ini_value(value: str) -> str:
    """VALUE as an oslo.config file value ('$' escaped, no line breaks)."""
    if "\n" in value or "\r" in value or value != value.strip():
        raise CellError("the transport URL has line breaks or surrounding spaces")
    return value.replace("$", "$$")
