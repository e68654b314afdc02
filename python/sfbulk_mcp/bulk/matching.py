"""Matching ingest results back to the input rows that produced them.

Salesforce returns successful, failed and unprocessed rows in any order, each echoing the
uploaded columns, and an upload may not carry a row-number column of ours (it would be sent
as a field). So rows are matched by content: the uploaded text of every column. Identical
input rows are told apart by their rank among equals: the k-th copy in the input takes the
k-th copy in the results. Identical rows are interchangeable, so this is exact.

Every input row ends with exactly one outcome; a row that no result mentions is reported as
unprocessed.

Rows match on an exact digest first: 128 bits (the engine's, see `row_digests`) of the
uploaded text of every column, computed while the CSV is parsed. A second digest of the values
trimmed and lower-cased catches values echoed with other case or padding; it costs more than
the first (every cell is rewritten), so an import computes it from the files it kept only when
some row found no exact echo (`normal_file_keys`, `match_keys(normalize=...)`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ..engine import Decoder, EngineError, row_digests

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


_SEED_A, _SEED_B = 0x5F3759DF, 0x9E3779B9
_DIGEST = ("__sfbulk_h1", "__sfbulk_h2")
_NORMAL = ("__sfbulk_n1", "__sfbulk_n2")


def scan_csv_text(body: bytes) -> pl.LazyFrame | None:
    """A CSV body as a lazy all-string frame ("" for empty cells), or None when empty."""
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    if not body.strip():
        return None
    return pl.scan_csv(
        body, infer_schema=False, empty_string_is_null=False, truncate_ragged_lines=True
    )


def scan_csv_file(path: Path) -> pl.LazyFrame | None:
    """Like `scan_csv_text`, for a CSV file (read in a streaming fashion)."""
    if _is_blank(path):
        return None
    return pl.scan_csv(
        path, infer_schema=False, empty_string_is_null=False, truncate_ragged_lines=True
    )


def _digests(
    columns: Sequence[str], keys: Sequence[str], *, exact: bool = True, normal: bool = True
) -> list[pl.Expr]:
    """Two independent 64-bit hashes of the `keys` values (a 128-bit digest: a chance
    collision is out of reach), and the same of the values trimmed and lower-cased, for values
    Salesforce echoes with other case or padding; `exact` and `normal` choose which. Names
    match case-insensitively; a missing column counts as empty."""
    by_lower = {c.lower(): c for c in columns}
    content = [
        (
            pl.col(by_lower[k.lower()]).cast(pl.String).fill_null("")
            if k.lower() in by_lower
            else pl.lit("", dtype=pl.String)
        ).alias(f"k{i}")
        for i, k in enumerate(keys)
    ]
    exprs: list[pl.Expr] = []
    if exact:
        # The engine's digest, as the decoder's digest mode computes it from the CSV text.
        exprs.append(
            pl.struct(content)
            .map_batches(_exact_digests, return_dtype=pl.Struct(dict.fromkeys(_DIGEST, pl.UInt64)))
            .struct.unnest()
        )
    if normal:
        folded = [c.str.strip_chars().str.to_lowercase() for c in content]
        exprs += [
            pl.struct(folded).hash(_SEED_A).alias(_NORMAL[0]),
            pl.struct(folded).hash(_SEED_B).alias(_NORMAL[1]),
        ]
    return exprs


def _exact_digests(rows: pl.Series) -> pl.Series:
    """The engine's exact digests of a struct of string columns (the keys, in order)."""
    values = rows.struct.unnest()
    frames = [pl.DataFrame(batch) for batch in row_digests(values, _DIGEST)]
    digests = pl.concat(frames) if frames else _empty_keys(normal=False)
    return digests.to_struct(rows.name)


def _empty_keys(
    extra: Sequence[str] = (), *, exact: bool = True, normal: bool = True
) -> pl.DataFrame:
    digests = (*(_DIGEST if exact else ()), *(_NORMAL if normal else ()))
    schema: dict[str, pl.DataType] = {n: pl.UInt64() for n in digests}
    schema.update({n: pl.String() for n in extra})
    return pl.DataFrame(schema=schema)


def _collect(rows: pl.LazyFrame, exprs: list[pl.Expr]) -> pl.DataFrame:
    # Streaming: a 100 MB upload is digested in small morsels, never held as a string frame.
    return rows.select(exprs).collect(engine="streaming")


def _key_exprs(
    columns: Sequence[str], keys: Sequence[str], result: bool, *, normal: bool = True
) -> list[pl.Expr]:
    """`_digests`, and for a result set its `sf__Id`/`sf__Created`/`sf__Error` columns."""
    exprs = _digests(columns, keys, normal=normal)
    if result:
        by_lower = {c.lower(): c for c in columns}
        # Concatenated to copy the values out: a column of a decoded batch keeps the batch's
        # whole text buffer alive (string views), which would hold every result file's text.
        exprs += [
            pl.concat_str([pl.col(by_lower[name.lower()]).cast(pl.String), pl.lit("")]).alias(name)
            if name.lower() in by_lower
            else pl.lit(None, dtype=pl.String).alias(name)
            for name in _RESULT_COLUMNS
        ]
    return exprs


def row_keys(
    text: pl.DataFrame | pl.LazyFrame | None, keys: Sequence[str], *, normal: bool = True
) -> pl.DataFrame:
    """Per row: the digests of its `keys` columns (four integers instead of every column;
    two without the `normal` ones)."""
    if text is None:
        return _empty_keys(normal=normal)
    rows = text.lazy()
    names = rows.collect_schema().names()
    return _collect(rows, _key_exprs(names, keys, result=False, normal=normal))


def result_keys(
    result: pl.DataFrame | pl.LazyFrame | None,
    keys: Sequence[str],
    outcome: str,
    *,
    normal: bool = True,
) -> pl.DataFrame:
    """`row_keys` of one result set, with its outcome and `sf__Id`/`sf__Created`/`sf__Error`."""
    if result is None:
        empty = _empty_keys(_RESULT_COLUMNS, normal=normal)
        return empty.with_columns(pl.lit(outcome).alias(_OUTCOME))
    rows = result.lazy()
    exprs = _key_exprs(rows.collect_schema().names(), keys, result=True, normal=normal)
    return _collect(rows, exprs).with_columns(pl.lit(outcome).alias(_OUTCOME))


_PIECE = 1 << 20
_BLANK = b"\xef\xbb\xbf \r\n\t"


def upload_keys(body: bytes, *, normal: bool = True) -> tuple[list[str], pl.DataFrame]:
    """The columns of an upload CSV, and `row_keys` of all of them for each of its rows."""

    def pieces() -> Iterator[bytes]:
        for at in range(0, len(body), _PIECE):
            yield body[at : at + _PIECE]

    if len(body) <= _PIECE and not body.strip(_BLANK):
        return [], _empty_keys(normal=normal)
    decoded = _decoded_keys(pieces, None, None, normal=normal)
    if decoded is None:
        text = scan_csv_text(body)
        names = text.collect_schema().names() if text is not None else []
        decoded = names, row_keys(text, names, normal=normal)
    return decoded


def _file_pieces(path: Path) -> Callable[[], Iterator[bytes]]:
    def pieces() -> Iterator[bytes]:
        with open(path, "rb") as fh:
            while piece := fh.read(_PIECE):
                yield piece

    return pieces


def _is_blank(path: Path) -> bool:
    """True when the file's start holds nothing but byte-order marks and white space."""
    with open(path, "rb") as fh:
        return not fh.read(1 << 16).strip(_BLANK)


def result_file_keys(
    path: Path, keys: Sequence[str], outcome: str, *, normal: bool = True
) -> pl.DataFrame:
    """`result_keys` of a result CSV file."""
    blank = _is_blank(path)
    decoded = None if blank else _decoded_keys(_file_pieces(path), keys, outcome, normal=normal)
    if decoded is None:
        text = None if blank else scan_csv_file(path)
        return result_keys(text, keys, outcome, normal=normal)
    return decoded[1]


def normal_file_keys(path: Path | None, keys: Sequence[str] | None) -> pl.DataFrame:
    """Only the case- and padding-blind digests of a CSV file's rows (`keys`: every column
    when None), row for row as `upload_keys` / `result_file_keys` read the same file; no rows
    for None."""
    if path is None or _is_blank(path):
        return _empty_keys(exact=False)
    decoded = _decoded_keys(_file_pieces(path), keys, None, exact=False)
    if decoded is not None:
        return decoded[1]
    text = scan_csv_file(path)
    assert text is not None
    names = text.collect_schema().names()
    return _collect(text, _digests(names, names if keys is None else keys, exact=False))


def _decoded_keys(
    pieces: Callable[[], Iterator[bytes]],
    keys: Sequence[str] | None,
    outcome: str | None,
    *,
    exact: bool = True,
    normal: bool = True,
) -> tuple[list[str], pl.DataFrame] | None:
    """The columns of a CSV and the digests of its rows (`keys`: all columns), decoded by the
    engine a batch at a time, so that only one batch of text is held at once. None when the
    engine cannot read the text (e.g. a row with a wrong number of fields): the caller reads
    it the lenient way instead.

    Upload and results both go through here, so a row and its echo get the same digests.
    The exact digests alone come straight from the decoder (its digest mode): no row's
    columns are built."""
    digest_only = exact and not normal
    # A row that spells the header is data here, not the header of a joined page.
    decoder = Decoder(
        gzip=False,
        skip_repeated_headers=False,
        digest=_DIGEST if digest_only else None,
        digest_keys=None if keys is None else list(keys),
        keep=list(_RESULT_COLUMNS) if digest_only and outcome is not None else [],
    )
    digests: list[pl.DataFrame] = []
    exprs: list[pl.Expr] = []

    def digest(rows: pl.DataFrame) -> None:
        if digest_only:
            digests.append(rows)
            return
        if not exprs:
            names = rows.columns
            wanted = names if keys is None else keys
            if exact:
                exprs.extend(_key_exprs(names, wanted, outcome is not None, normal=normal))
            else:
                exprs.extend(_digests(names, wanted, exact=False))
        digests.append(rows.select(exprs))

    try:
        for piece in pieces():
            for batch in decoder.feed(piece):
                digest(pl.DataFrame(batch))
        for batch in decoder.finish():
            digest(pl.DataFrame(batch))
    except EngineError:
        return None
    if decoder.schema is None:  # not even a header
        if not exact:
            return [], _empty_keys(exact=False)
        empty = _empty_keys(_RESULT_COLUMNS if outcome is not None else (), normal=normal)
        return [], empty if outcome is None else empty.with_columns(pl.lit(outcome).alias(_OUTCOME))
    if not digests:  # the header alone
        if digest_only:
            extra = _RESULT_COLUMNS if outcome is not None else ()
            digests.append(_empty_keys(extra, normal=False))
        else:
            digest(pl.DataFrame(decoder.schema))
    keyed = pl.concat(digests, how="vertical")
    if outcome is not None:
        keyed = keyed.with_columns(pl.lit(outcome).alias(_OUTCOME))
    return decoder.schema.names, keyed


Normalize = Callable[[], tuple[pl.DataFrame, Sequence[pl.DataFrame]]]


def match_keys(
    uploaded: pl.DataFrame, results: Sequence[pl.DataFrame], normalize: Normalize | None = None
) -> pl.DataFrame:
    """One outcome per uploaded row (see `match_outcomes`), from `row_keys` of the upload and
    `result_keys` of each result set.

    Keys made without their normal digests (`normal=False`) get them from `normalize` — the
    upload's and each result set's, row for row — only when some row has no exact echo."""
    inputs = uploaded.with_row_index(ROW)
    pool = pl.concat(list(results), how="vertical").with_row_index("__sfbulk_result")
    exact = _join(inputs, pool, _DIGEST)
    missing = inputs.join(exact.select(ROW), on=ROW, how="anti")
    matched = exact
    if missing.height and normalize is not None and pool.height:
        folded_upload, folded_results = normalize()
        inputs = pl.concat([inputs.drop(_NORMAL, strict=False), folded_upload], how="horizontal")
        pool = pl.concat(
            [pool.drop(_NORMAL, strict=False), pl.concat(list(folded_results))],
            how="horizontal",
        )
        missing = inputs.join(exact.select(ROW), on=ROW, how="anti")
    if missing.height and _NORMAL[0] in pool.columns and _NORMAL[0] in inputs.columns:
        # Second chance for values Salesforce echoed with different case or padding.
        spare = pool.join(exact.select("__sfbulk_result"), on="__sfbulk_result", how="anti")
        matched = pl.concat([exact, _join(missing, spare, _NORMAL)])
    return (
        inputs.select(ROW)
        .join(matched, on=ROW, how="left")
        .sort(ROW)
        .select(
            pl.col(_OUTCOME).fill_null(UNPROCESSED).alias("outcome"),
            *[pl.col(c) for c in _RESULT_COLUMNS],
        )
    )


def _join(inputs: pl.DataFrame, pool: pl.DataFrame, digest: Sequence[str]) -> pl.DataFrame:
    """Pairs rows with equal digests; the k-th equal input takes the k-th equal result."""
    wanted = [ROW, "__sfbulk_result", _OUTCOME, *_RESULT_COLUMNS]
    try:
        # Usually no two rows on either side are equal: a plain join, several times faster
        # than ranking a million rows among their equals.
        joined = inputs.select(ROW, *digest).join(
            pool.select("__sfbulk_result", *digest, _OUTCOME, *_RESULT_COLUMNS),
            on=list(digest),
            how="inner",
            validate="1:1",
        )
    except pl.exceptions.ComputeError:  # equal rows on a side
        joined = _ranked_join(inputs, pool, digest)
    return joined.select(wanted)


def _ranked_join(inputs: pl.DataFrame, pool: pl.DataFrame, digest: Sequence[str]) -> pl.DataFrame:
    """`_join` when some rows are equal: each is ranked among its equals, on both sides."""
    ranked_inputs = inputs.select(ROW, *digest).with_columns(
        pl.int_range(pl.len()).over(*digest).alias(_RANK)
    )
    ranked_pool = pool.with_columns(pl.int_range(pl.len()).over(*digest).alias(_RANK))
    return ranked_inputs.join(
        ranked_pool.select("__sfbulk_result", *digest, _RANK, _OUTCOME, *_RESULT_COLUMNS),
        on=[*digest, _RANK],
        how="inner",
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
    job's three result sets read the same way. A row no result mentions is `unprocessed`.
    """
    keys = list(uploaded.columns)

    def rows(frame: pl.DataFrame) -> pl.DataFrame | None:
        return frame if frame.width else None

    return match_keys(
        row_keys(uploaded, keys),
        [
            result_keys(rows(success), keys, SUCCESS),
            result_keys(rows(failed), keys, FAILED),
            result_keys(rows(unprocessed), keys, UNPROCESSED),
        ],
    )


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
