"""Column types for Bulk results, taken from `describe` — including dotted relationship
columns (`Owner.Name`), typed from the related object's describe.

A schema is a dict column name → Salesforce field type name (`string`, `boolean`, `int`,
`double`, `date`, `datetime`, ...), which is what the engine's decoder takes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from ..salesforce.errors import SalesforceError

Describe = Mapping[str, Any]
DescribeFn = Callable[[str], Awaitable[Describe]]

# Bulk API 2.0 rejects compound fields; base64 bodies are not returned by Bulk queries either.
_NOT_BULK_TYPES = frozenset({"address", "location", "base64"})


def field_map(describe: Describe) -> dict[str, Mapping[str, Any]]:
    """Fields of a describe by lower-cased API name."""
    return {str(f["name"]).lower(): f for f in describe.get("fields", [])}


def field_types(describe: Describe) -> dict[str, str]:
    """Lower-cased field name → Salesforce type name."""
    return {name: str(f.get("type", "string")) for name, f in field_map(describe).items()}


def bulk_fields(describe: Describe) -> list[str]:
    """Every field of the object that a Bulk query can select ("all fields"), in describe order.

    Compound address/location fields are left out (their components, e.g. `BillingCity`, stay),
    and so are base64 fields, which Bulk cannot return.
    """
    return [
        str(f["name"])
        for f in describe.get("fields", [])
        if str(f.get("type", "")) not in _NOT_BULK_TYPES
    ]


def _relationship_target(describe: Describe, relationship: str) -> str | None:
    wanted = relationship.lower()
    for f in describe.get("fields", []):
        name = f.get("relationshipName")
        if name and str(name).lower() == wanted:
            targets = f.get("referenceTo") or []
            return str(targets[0]) if targets else None
    return None


async def resolve_schema(
    object_name: str, columns: Sequence[str], describe: DescribeFn
) -> dict[str, str]:
    """Type of every column of a query on `object_name`, following relationship paths.

    `describe` is called at most once per object (the caller may cache too). A column whose
    path cannot be resolved stays a string, as the engine does for unknown columns.
    """
    cache: dict[str, Describe] = {}

    async def get(name: str) -> Describe | None:
        key = name.lower()
        if key not in cache:
            try:
                cache[key] = await describe(name)
            except SalesforceError:  # a related object this user cannot describe: keep strings
                cache[key] = {}
        return cache[key] or None

    schema: dict[str, str] = {}
    for column in columns:
        parts = column.split(".")
        current: str | None = object_name
        kind = "string"
        for depth, part in enumerate(parts):
            desc = await get(current) if current else None
            if desc is None:
                break
            if depth == len(parts) - 1:
                kind = field_types(desc).get(part.lower(), "string")
            else:
                current = _relationship_target(desc, part)
        schema[column] = kind
    return schema


def schema_for_header(header: Iterable[str], resolved: Mapping[str, str]) -> dict[str, str]:
    """`resolved` re-keyed by the names the result header really uses (case may differ)."""
    by_lower = {name.lower(): kind for name, kind in resolved.items()}
    return {name: by_lower.get(name.lower(), "string") for name in header}


def parse_header_line(data: bytes, delimiter: str = ",") -> list[str] | None:
    """Column names from the first CSV record of `data`, or None if it is not complete yet."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    names: list[str] = []
    field = bytearray()
    quoted = False
    i = 0
    sep = delimiter.encode()
    while i < len(data):
        byte = data[i : i + 1]
        if quoted:
            if byte == b'"':
                if data[i + 1 : i + 2] == b'"':
                    field += b'"'
                    i += 2
                    continue
                quoted = False
            else:
                field += byte
        elif byte == b'"':
            quoted = True
        elif byte == sep:
            names.append(field.decode("utf-8", "replace"))
            field.clear()
        elif byte in (b"\n", b"\r"):
            names.append(field.decode("utf-8", "replace"))
            return names
        else:
            field += byte
        i += 1
    return None


DELIMITERS: dict[str, str] = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
