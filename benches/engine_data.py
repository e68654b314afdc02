"""Bench data for the engine benchmarks: an Account-like Bulk API 2.0 query result.

Every value is quoted and nulls are ``""``, as Bulk writes them; descriptions carry embedded
newlines, doubled quotes and multi-byte UTF-8. Generated once per row count into
``bench-data/`` (gitignored), as result pages of ``PAGE_ROWS`` rows each with its own header.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "bench-data"
PAGE_ROWS = 50_000

ACCOUNT_TYPES: dict[str, str] = {
    "Id": "id",
    "Name": "string",
    "Type": "picklist",
    "ParentId": "reference",
    "BillingStreet": "textarea",
    "BillingCity": "string",
    "BillingState": "string",
    "BillingPostalCode": "string",
    "BillingCountry": "string",
    "Phone": "phone",
    "Website": "url",
    "Industry": "picklist",
    "AnnualRevenue": "currency",
    "NumberOfEmployees": "int",
    "Rating": "picklist",
    "Description": "textarea",
    "IsDeleted": "boolean",
    "CreatedDate": "datetime",
    "LastModifiedDate": "datetime",
    "LastActivityDate": "date",
    "OwnerId": "reference",
    "Owner.Name": "string",
}

POLARS_TYPES: dict[str, pl.DataType] = {
    name: {
        "currency": pl.Float64(),
        "int": pl.Int64(),
        "boolean": pl.Boolean(),
        "datetime": pl.Datetime("us", "UTC"),
        "date": pl.Date(),
    }.get(kind, pl.String())
    for name, kind in ACCOUNT_TYPES.items()
}

_WORDS = [
    "Acme",
    "Global",
    "Systems",
    "Zürich",
    "Société",
    "Générale",
    "東京",
    "Данные",
    "Ω-Labs",
    "Holdings",
    "Partners",
    "😀 Emoji",
    "Northwind",
    "Contoso",
    "O'Reilly",
    "Fabrikam",
]
_CITIES = ["San Francisco", "München", "São Paulo", "Kraków", "Québec", "東京", "London"]
_INDUSTRIES = ["Technology", "Banking", "Retail", "Energy", "Healthcare", None]


def account_frame(rows: int, seed: int = 7) -> pl.DataFrame:
    """Typed Account-like rows; about 1 in 7 optional values is null."""
    idx = pl.int_range(0, rows, eager=True)

    def pick(values: Sequence[str | None], mult: int) -> pl.Series:
        return pl.Series(list(values))[(idx * mult + seed) % len(values)]

    base = pl.DataFrame({"i": idx})
    df = base.select(
        Id=pl.format("001{}AAA", pl.col("i").cast(pl.String).str.zfill(12)),
        Name=pl.format("{} {} #{}", pick(_WORDS, 7), pick(_WORDS, 11), pl.col("i")),
        Type=pl.when(pl.col("i") % 3 == 0).then(pl.lit("Customer")).otherwise(pl.lit("Prospect")),
        ParentId=pl.when(pl.col("i") % 7 == 0)
        .then(None)
        .otherwise(pl.format("001{}AAB", (pl.col("i") // 10).cast(pl.String).str.zfill(12))),
        BillingStreet=pl.format("{} Market St\nSuite {}", pl.col("i") % 999, pl.col("i") % 77),
        BillingCity=pick(_CITIES, 5),
        BillingState=pl.lit("CA"),
        BillingPostalCode=(pl.col("i") % 90_000 + 10_000).cast(pl.String),
        BillingCountry=pl.lit("United States"),
        Phone=pl.format("(415) 555-{}", (pl.col("i") % 10_000).cast(pl.String).str.zfill(4)),
        Website=pl.format("https://www.example{}.com", pl.col("i") % 1000),
        Industry=pick(_INDUSTRIES, 3),
        AnnualRevenue=pl.when(pl.col("i") % 7 == 3)
        .then(None)
        .otherwise((pl.col("i") * 1234.5) % 1e9),
        NumberOfEmployees=pl.when(pl.col("i") % 7 == 4).then(None).otherwise(pl.col("i") % 50_000),
        Rating=pick(["Hot", "Warm", "Cold"], 1),
        Description=pl.format(
            'Key account "{}" — notes:\nRenewal in Q{}; contact: {} ✓. Lorem ipsum dolor sit '
            "amet, consectetur adipiscing elit, sed do eiusmod tempor.",
            pick(_WORDS, 13),
            pl.col("i") % 4 + 1,
            pick(_WORDS, 17),
        ),
        IsDeleted=pl.col("i") % 50 == 0,
        CreatedDate=pl.datetime(2020, 1, 1, time_zone="UTC")
        + pl.duration(milliseconds=pl.col("i") * 60_017),
        LastModifiedDate=pl.datetime(2023, 6, 1, time_zone="UTC")
        + pl.duration(milliseconds=pl.col("i") * 1_013),
        LastActivityDate=pl.when(pl.col("i") % 7 == 5)
        .then(None)
        .otherwise(pl.date(2024, 1, 1) + pl.duration(days=pl.col("i") % 365)),
        OwnerId=pl.format("005{}AAA", (pl.col("i") % 100).cast(pl.String).str.zfill(12)),
        **{"Owner.Name": pick(["Ada Lovelace", "Grace Hopper", "Jürgen Müller"], 1)},
    )
    return df.cast({"Id": pl.String})


def bulk_csv_bytes(df: pl.DataFrame) -> bytes:
    """Writes ``df`` as Bulk query results: header, every value quoted, null as ``""``."""
    as_text = df.select(
        [
            (
                pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%S.%3fZ")
                if df.schema[c] == pl.Datetime("us", "UTC")
                else pl.col(c).cast(pl.String)
            ).fill_null("")
            for c in df.columns
        ]
    )
    return as_text.write_csv(quote_style="always").encode()


def pages(rows: int) -> list[Path]:
    """Result pages for ``rows`` rows, generated on first use."""
    folder = DATA_DIR / f"accounts_{rows}"
    done = folder / "DONE"
    if not done.exists():
        folder.mkdir(parents=True, exist_ok=True)
        for start in range(0, rows, PAGE_ROWS):
            n = min(PAGE_ROWS, rows - start)
            frame = account_frame(n, seed=start)
            frame = frame.with_columns(
                Id=pl.format(
                    "001{}AAA", (pl.int_range(start, start + n)).cast(pl.String).str.zfill(12)
                )
            )
            (folder / f"page_{start // PAGE_ROWS:05d}.csv").write_bytes(bulk_csv_bytes(frame))
        done.write_text("ok\n")
    return sorted(folder.glob("page_*.csv"))


def single_stream(rows: int) -> Path:
    """All pages as one CSV file with one header (what ``polars.read_csv`` reads)."""
    target = DATA_DIR / f"accounts_{rows}.csv"
    if not target.exists():
        page_files = pages(rows)
        with target.open("wb") as out:
            for i, page in enumerate(page_files):
                data = page.read_bytes()
                out.write(data if i == 0 else data[data.index(b"\n") + 1 :])
    return target
