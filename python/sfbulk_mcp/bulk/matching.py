"""Matching ingest results back to the input rows that produced them.

Salesforce returns successful, failed and unprocessed rows in any order, each echoing the
uploaded columns, and an upload may not carry a row-number column of ours (it would be sent
as a field). So rows are matched by content: the uploaded text of every column. Identical
input rows are told apart by their rank among equals: the k-th copy in the input takes the
k-th copy in the results. Identical rows are interchangeable, so this is exact.

Every input row ends with exactly one outcome; a row that no result mentions is reported as
unprocessed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

SUCCESS = "success"
FAILED = "failed"
UNPROCESSED = "unprocessed"

ROW = "__sfbulk_row"
_RANK = "__sfbulk_rank"
_OUTCOME = "__sfbulk_outcome"
_RESULT_COLUMNS = ("sf__Id", "sf__Created", "sf__Error")


def read_csv_text(data: bytes | Sequence[bytes], delimiter: str = ",") -> pl.DataFrame:
    """A CSV body as an all-string frame, empty cells as "" (never null)."""
    body = data if isinstance(data, bytes) else b"".join(data)
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    if not body.strip():
        return pl.DataFrame()
    frame = pl.read_csv(
        body,
        infer_schema=False,
        separator=delimiter,
        empty_string_is_null=False,
        truncate_ragged_lines=True,
    )
    return frame.with_columns(pl.all().fill_null(""))


def _aligned(result: pl.DataFrame, keys: Sequence[str], extra: Sequence[str]) -> pl.DataFrame:
    """`result` with its echoed columns renamed to the upload's spelling, plus `extra`."""
    by_lower = {c.lower(): c for c in result.columns}
    exprs: list[pl.Expr] = []
    for key in keys:
        source = by_lower.get(key.lower())
        exprs.append(
            pl.col(source).cast(pl.String).fill_null("").alias(key)
            if source is not None
            else pl.lit("").alias(key)
        )
    for name in extra:
        source = by_lower.get(name.lower())
        exprs.append(
            pl.col(source).cast(pl.String).alias(name)
            if source is not None
            else pl.lit(None, dtype=pl.String).alias(name)
        )
    return (
        result.select(exprs)
        if result.height
        else pl.DataFrame(schema={**{k: pl.String for k in keys}, **{e: pl.String for e in extra}})
    )


def _normalised(frame: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    return frame.with_columns(
        [pl.col(k).str.strip_chars().str.to_lowercase().alias(k) for k in keys]
    )


def match_outcomes(
    uploaded: pl.DataFrame,
    success: pl.DataFrame,
    failed: pl.DataFrame,
    unprocessed: pl.DataFrame,
) -> pl.DataFrame:
    """One row per uploaded row, in upload order: `outcome`, `sf__Id`, `sf__Created`,
    `sf__Error`.

    `uploaded` is the upload CSV read back as text (see `read_csv_text`); the results are the
    job's three result sets read the same way.
    """
    keys = list(uploaded.columns)
    results = pl.concat(
        [
            _aligned(success, keys, _RESULT_COLUMNS).with_columns(pl.lit(SUCCESS).alias(_OUTCOME)),
            _aligned(failed, keys, _RESULT_COLUMNS).with_columns(pl.lit(FAILED).alias(_OUTCOME)),
            _aligned(unprocessed, keys, _RESULT_COLUMNS).with_columns(
                pl.lit(UNPROCESSED).alias(_OUTCOME)
            ),
        ],
        how="vertical",
    )
    inputs = uploaded.select([pl.col(k).cast(pl.String).fill_null("") for k in keys])
    inputs = inputs.with_row_index(ROW)
    matched = _join_by_content(inputs, results, keys)

    missing = inputs.join(matched.select(ROW), on=ROW, how="anti")
    if missing.height:
        # Second chance for values Salesforce echoed with different case or padding.
        used = matched.get_column("__sfbulk_result").to_list()
        spare = results.with_row_index("__sfbulk_result").filter(
            ~pl.col("__sfbulk_result").is_in(used)
        )
        again = _join_by_content(
            _normalised(missing, keys), _normalised(spare.drop("__sfbulk_result"), keys), keys
        )
        matched = pl.concat([matched.drop("__sfbulk_result"), again.drop("__sfbulk_result")])
    else:
        matched = matched.drop("__sfbulk_result")

    outcome = (
        inputs.select(ROW)
        .join(matched, on=ROW, how="left")
        .sort(ROW)
        .select(
            pl.col(_OUTCOME).fill_null(UNPROCESSED).alias("outcome"),
            *[pl.col(c) for c in _RESULT_COLUMNS],
        )
    )
    return outcome


def _with_content_key(frame: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """`frame` without its key columns but with a 128-bit digest of them (two independent
    64-bit row hashes: a chance collision is out of reach) and the row's rank among equals.

    Joining on the digest instead of every uploaded column keeps the join small."""
    content = frame.select(keys)
    digest = pl.DataFrame(
        {
            "__sfbulk_h1": content.hash_rows(seed=0x5F3759DF),
            "__sfbulk_h2": content.hash_rows(seed=0x9E3779B9),
        }
    )
    rest = frame.drop(keys)
    return pl.concat([rest, digest], how="horizontal").with_columns(
        pl.int_range(pl.len()).over("__sfbulk_h1", "__sfbulk_h2").alias(_RANK)
    )


def _join_by_content(
    inputs: pl.DataFrame, results: pl.DataFrame, keys: Sequence[str]
) -> pl.DataFrame:
    ranked_inputs = _with_content_key(inputs, keys)
    ranked_results = _with_content_key(results.with_row_index("__sfbulk_result"), keys)
    joined = ranked_inputs.join(
        ranked_results, on=["__sfbulk_h1", "__sfbulk_h2", _RANK], how="inner"
    )
    return joined.select(ROW, "__sfbulk_result", _OUTCOME, *_RESULT_COLUMNS)


_ERROR = re.compile(r"^(?P<code>[A-Z][A-Z0-9_]*):(?P<rest>.*?)\s*(?:--)?\s*$", re.DOTALL)
_FIELDS = re.compile(r"^[A-Za-z0-9_.,\s]*$")


@dataclass(frozen=True)
class RowError:
    """One `sf__Error` value split into its parts."""

    code: str | None
    message: str
    fields: tuple[str, ...]


def parse_row_error(text: str | None) -> RowError:
    """Split `CODE:message:Field1,Field2 --` (Salesforce's failed-row format) into parts."""
    if not text:
        return RowError(code=None, message="", fields=())
    match = _ERROR.match(text.strip())
    if not match:
        return RowError(code=None, message=text.strip(), fields=())
    rest = match.group("rest")
    message, fields = rest, ""
    if ":" in rest:
        head, tail = rest.rsplit(":", 1)
        if _FIELDS.match(tail):
            message, fields = head, tail
    names = tuple(f.strip() for f in fields.split(",") if f.strip())
    return RowError(code=match.group("code"), message=message.strip(), fields=names)


def error_columns(errors: pl.Series) -> pl.DataFrame:
    """`error_code`, `error_message`, `error_fields` columns for a series of `sf__Error`."""
    parsed = [parse_row_error(v) for v in errors.to_list()]
    return pl.DataFrame(
        {
            "error_code": [p.code for p in parsed],
            "error_message": [p.message for p in parsed],
            "error_fields": [",".join(p.fields) for p in parsed],
        },
        schema={"error_code": pl.String, "error_message": pl.String, "error_fields": pl.String},
    )
