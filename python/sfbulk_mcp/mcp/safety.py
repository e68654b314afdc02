"""Which objects a session may touch: the allow and deny lists, applied to every tool.

Objects are named by the tool arguments (`object_name`) or inside SOQL/SOSL text; both are
checked before anything is sent to Salesforce.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from mcp.server.mcpserver.exceptions import ToolError

_FROM = re.compile(r"\bFROM\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b(.*)$", re.IGNORECASE | re.DOTALL)
_KEY_PREFIX_OBJECTS = {
    "001": "Account",
    "003": "Contact",
    "00Q": "Lead",
    "006": "Opportunity",
    "500": "Case",
    "005": "User",
}


class PolicyError(ToolError):
    """The request names an object this server is not allowed to touch."""


def _without_literals(text: str) -> str:
    return re.sub(r"'(?:\\.|[^'\\])*'", "''", text)


def _scan(soql: str) -> tuple[str, list[str], list[str]]:
    """(top level with subqueries blanked, SELECT-list subqueries, later subqueries)."""
    text = _without_literals(soql)
    top: list[str] = []
    in_select: list[str] = []
    later: list[str] = []
    depth = 0
    current = ""
    seen_from = False
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
            if depth == 1:
                current = ""
                top.append(" ")
                continue
        elif char == ")":
            depth -= 1
            if depth == 0:
                if re.match(r"\s*SELECT\b", current, re.IGNORECASE):
                    (later if seen_from else in_select).append(current)
                continue
        if depth == 0:
            top.append(char)
            if (
                text[index : index + 4].upper() == "FROM"
                and (index == 0 or not text[index - 1].isalnum())
            ):
                seen_from = True
        else:
            current += char
    return "".join(top), in_select, later


def soql_objects(soql: str) -> list[str]:
    """Objects a SOQL text reads: the top-level FROM and semi-joins (`IN (SELECT … FROM X)`)."""
    top, _, later = _scan(soql)
    names = _FROM.findall(top)
    for sub in later:
        names += soql_objects(sub)
    return names


def soql_child_relationships(soql: str) -> list[str]:
    """Child relationship names read by subqueries in the SELECT list (`Contacts`)."""
    _, in_select, _ = _scan(soql)
    return [name for sub in in_select for name in _FROM.findall(sub)]


def sosl_objects(sosl: str) -> list[str]:
    """Objects listed after RETURNING in a SOSL text (empty = every searchable object)."""
    match = _RETURNING.search(sosl)
    if not match:
        return []
    names: list[str] = []
    depth = 0
    token = ""
    for char in match.group(1):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and char == ",":
            names.append(token)
            token = ""
            continue
        if depth == 0 and char not in "()":
            token += char
    names.append(token)
    out: list[str] = []
    for name in names:
        word = name.strip().split()
        if word and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", word[0]):
            out.append(word[0])
    return out


def object_for_id(record_id: str) -> str | None:
    """The standard object an Id's key prefix names, when it is one we know."""
    return _KEY_PREFIX_OBJECTS.get(record_id[:3])


@dataclass(frozen=True)
class ObjectPolicy:
    """Allow list (empty = everything) and deny list, case-insensitive."""

    allow: frozenset[str] = frozenset()
    deny: frozenset[str] = frozenset()

    @property
    def restricted(self) -> bool:
        return bool(self.allow or self.deny)

    def allowed(self, name: str) -> bool:
        key = name.lower()
        if key in self.deny:
            return False
        return not self.allow or key in self.allow

    def check(self, name: str) -> None:
        """Raise `PolicyError` when `name` may not be used."""
        if not self.allowed(name):
            raise PolicyError(
                f"object {name} is not available on this server "
                "(blocked by its --allow-objects/--deny-objects settings)"
            )

    def check_all(self, names: Iterable[str]) -> None:
        for name in names:
            self.check(name)

    def check_soql(self, soql: str) -> None:
        if self.restricted:
            self.check_all(soql_objects(soql))

    def check_sosl(self, sosl: str) -> None:
        if not self.restricted:
            return
        names = sosl_objects(sosl)
        if not names and self.allow:
            raise PolicyError(
                "this server only allows some objects: add a RETURNING clause naming them"
            )
        self.check_all(names)
