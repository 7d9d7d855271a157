# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Edit oslo.config INI text line by line, keeping everything the edit does not touch.

Comments, blank lines, order and the other options stay as they are. An option is written as
``option = value`` (as community.general.ini_file writes it), so files that module wrote before
read back unchanged. Continuation lines (indented lines after an option) belong to the option.
"""

from __future__ import annotations

import re

_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_OPTION = re.compile(r"^\s*([^#;\s=:][^=:]*?)\s*[=:]")
_COMMENT = re.compile(r"^\s*[#;]")


class IniEditError(ValueError):
    """An edit that cannot be applied (bad section or option name)."""


def _line_kind(line: str) -> tuple[str, str | None]:
    if not line.strip():
        return "blank", None
    if _COMMENT.match(line):
        return "comment", None
    section = _SECTION.match(line)
    if section:
        return "section", section.group(1).strip()
    if line[0] in " \t":
        return "continuation", None
    option = _OPTION.match(line)
    if option:
        return "option", option.group(1)
    return "other", None


class IniText:
    """Lines of one INI file and the edits applied to them."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def text(self) -> str:
        return "\n".join(self.lines) + "\n" if self.lines else ""

    def _sections(self, name: str) -> list[tuple[int, int]]:
        """(header index or -1 for the text before any header, end index) of each section."""
        spans, start, current = [], -1, None
        for index, line in enumerate(self.lines):
            kind, value = _line_kind(line)
            if kind == "section":
                if current == name:
                    spans.append((start, index))
                start, current = index, value
        if current == name:
            spans.append((start, len(self.lines)))
        return spans

    def _options(self, name: str, option: str) -> list[tuple[int, int]]:
        """(first, end) line spans of every occurrence of option in the sections called name."""
        found = []
        for header, end in self._sections(name):
            index = header + 1
            while index < end:
                kind, value = _line_kind(self.lines[index])
                if kind == "option" and value == option:
                    stop = index + 1
                    while stop < end and _line_kind(self.lines[stop])[0] == "continuation":
                        stop += 1
                    found.append((index, stop))
                    index = stop
                else:
                    index += 1
        return found

    def set(self, section: str, option: str, value: str) -> bool:
        _check_name("section", section)
        _check_name("option", option)
        line = f"{option} = {value}"
        spans = self._options(section, option)
        if spans:
            first, *rest = spans
            changed = self.lines[first[0] : first[1]] != [line] or bool(rest)
            for start, stop in reversed(rest):
                del self.lines[start:stop]
            self.lines[first[0] : first[1]] = [line]
            return changed
        sections = self._sections(section)
        if sections:
            header, end = sections[0]
            insert = end
            while insert > header + 1 and not self.lines[insert - 1].strip():
                insert -= 1
            self.lines.insert(insert, line)
            return True
        if self.lines and self.lines[-1].strip():
            self.lines.append("")
        self.lines.extend([f"[{section}]", line])
        return True

    def remove(self, section: str, option: str | None) -> bool:
        _check_name("section", section)
        if option is None:
            spans = [(h, e) for h, e in self._sections(section) if h >= 0]
        else:
            spans = self._options(section, option)
        for start, stop in reversed(spans):
            del self.lines[start:stop]
        return bool(spans)


def _check_name(what: str, name: str) -> None:
    if not name or name != name.strip() or any(c in name for c in "[]\n="):
        raise IniEditError(f"invalid {what} name {name!r}")


def apply(text: str, edits: list[dict]) -> tuple[str, list[str]]:
    """Apply edits ({section, option, value, state}) to text; return new text and what changed."""
    ini = IniText(text)
    done = []
    for edit in edits:
        section, option = edit["section"], edit.get("option")
        if edit.get("state", "present") == "absent":
            if ini.remove(section, option):
                done.append("removed [{}] {}".format(section, option or "(section)"))
        else:
            if option is None or edit.get("value") is None:
                raise IniEditError(f"[{section}] {option}: present needs option and value")
            if ini.set(section, option, str(edit["value"])):
                done.append(f"set [{section}] {option}")
    return ini.text(), done
