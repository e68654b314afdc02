"""Turn Salesforce answers into something a model can read: slim rows, CSV text, a byte budget.

Salesforce wraps every record in an `attributes` object and nests parent fields
(`{"Owner": {"attributes": …, "Name": "Ann"}}`). Models pay for every byte, so records are
flattened to dotted columns (`Owner.Name`, as Bulk API headers name them), `attributes` dropped,
and rows are added until the result budget is spent.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson


def slim_record(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A record without `attributes`, parent relationships flattened to dotted keys.

    Child subqueries (`{"totalSize", "done", "records"}`) stay nested as lists of slim records.
    """
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if "records" in value and isinstance(value.get("records"), list):
                out[name] = [slim_record(child) for child in value["records"]]
            elif "attributes" in value:
                out.update(slim_record(value, prefix=f"{name}."))
            else:
                # compound fields (address, geolocation) stay one value
                out[name] = {k: v for k, v in value.items() if k != "attributes"}
        else:
            out[name] = value
    return out


def columns_of(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """Column names in first-seen order (SELECT order for SOQL results)."""
    seen: dict[str, None] = {}
    for record in records:
        for key in record:
            seen.setdefault(key, None)
    return list(seen)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return str(value)


def render_csv(columns: Sequence[str], records: Iterable[Mapping[str, Any]]) -> str:
    """CSV text (header + rows), quoting only where needed; null is an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([_cell(record.get(column)) for column in columns])
    return buffer.getvalue()


def json_size(value: Any) -> int:
    """Bytes of `value` as compact JSON."""
    return len(orjson.dumps(value, default=str))


@dataclass(frozen=True)
class Fitted:
    """The rows that fit in a budget."""

    records: list[dict[str, Any]]
    truncated: bool


def fit_records(records: Sequence[dict[str, Any]], budget: int) -> Fitted:
    """The longest prefix of `records` whose compact JSON stays within `budget` bytes.

    At least one row is kept when there is any, so that a single wide record is still seen
    (its long values are shortened instead, see `shorten_values`).
    """
    used = 2
    kept: list[dict[str, Any]] = []
    for record in records:
        size = json_size(record) + 1
        if kept and used + size > budget:
            return Fitted(kept, True)
        if not kept and size > budget:
            kept.append(shorten_values(record, budget))
            return Fitted(kept, len(records) > 1 or kept[0] != record)
        kept.append(record)
        used += size
    return Fitted(kept, False)


def shorten_values(record: Mapping[str, Any], budget: int) -> dict[str, Any]:
    """A copy of `record` whose long text values are cut so the whole fits near `budget`."""
    limit = max(64, budget // max(1, len(record)))
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, str) and len(value) > limit:
            out[key] = value[:limit] + f"…[{len(value) - limit} more chars]"
        elif isinstance(value, (dict, list)) and json_size(value) > limit:
            text = orjson.dumps(value).decode()
            out[key] = text[:limit] + f"…[{len(text) - limit} more chars]"
        else:
            out[key] = value
    return out


def shorten_text(text: str, budget: int) -> tuple[str, bool]:
    """`text` cut to `budget` bytes (on a character boundary), and whether it was cut."""
    raw = text.encode()
    if len(raw) <= budget:
        return text, False
    cut = raw[:budget].decode(errors="ignore")
    return cut, True
