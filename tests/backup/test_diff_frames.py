"""The diff on its own: nulls, type changes, new and removed fields, volatile fields, Ids —
and a property check against a plain Python comparison."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from sfbulk_mcp.backup.diff import diff_frames
from sfbulk_mcp.backup.ids import id18


def test_null_to_value_and_value_to_null_are_changes_but_null_to_null_is_not() -> None:
    old = pl.LazyFrame({"Id": ["a", "b", "c"], "Phone": [None, "1", None]})
    new = pl.LazyFrame({"Id": ["a", "b", "c"], "Phone": ["2", None, None]})
    changes = diff_frames("Account", old, new).changes
    assert changes.rows() == [("a", "Phone", None, "2"), ("b", "Phone", "1", None)]


def test_a_field_whose_type_changed_is_compared_as_text() -> None:
    old = pl.LazyFrame({"Id": ["a", "b"], "Score__c": [1.0, 2.0]})
    new = pl.LazyFrame({"Id": ["a", "b"], "Score__c": ["1.0", "3"]})
    changes = diff_frames("X", old, new).changes
    assert changes.rows() == [("b", "Score__c", "2.0", "3")]


def test_new_and_removed_fields_are_reported_not_counted_as_record_changes() -> None:
    old = pl.LazyFrame({"Id": ["a"], "Name": ["n"], "Gone__c": ["x"]})
    new = pl.LazyFrame({"Id": ["a"], "Name": ["n"], "New__c": ["y"]})
    result = diff_frames("X", old, new)
    assert result.changes.height == 0
    assert result.columns_added == ["New__c"] and result.columns_removed == ["Gone__c"]


def test_volatile_system_fields_are_ignored_unless_asked_for() -> None:
    stamp = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    old = pl.LazyFrame({"Id": ["a"], "SystemModstamp": [stamp], "LastViewedDate": [stamp]})
    new = pl.LazyFrame(
        {"Id": ["a"], "SystemModstamp": [stamp + dt.timedelta(seconds=1)], "LastViewedDate": [stamp]}
    )
    assert diff_frames("X", old, new).empty
    changes = diff_frames("X", old, new, ignore=()).changes
    assert changes.rows() == [
        ("a", "SystemModstamp", "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:01.000Z")
    ]


def test_fifteen_character_ids_find_their_eighteen_character_records() -> None:
    assert id18("001Dv0000000001") == "001Dv0000000001IAA"
    assert id18("001D000000IRFmaIAH") == "001D000000IRFmaIAH"  # already 18: unchanged
    assert id18("001D000000IRFma") == "001D000000IRFmaIAH"
    old = pl.LazyFrame({"Id": ["001Dv0000000001IAA", "001Dv0000000002IAA"], "Name": ["a", "b"]})
    new = pl.LazyFrame({"Id": ["001Dv0000000001IAA", "001Dv0000000002IAA"], "Name": ["A", "B"]})
    only = diff_frames("Account", old, new, ids=["001Dv0000000001"])
    assert only.changed_ids == ["001Dv0000000001IAA"]


rows = st.dictionaries(
    st.sampled_from([f"id{i}" for i in range(12)]),
    st.tuples(st.none() | st.sampled_from(["x", "y"]), st.none() | st.integers(0, 2)),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(before=rows, after=rows)
def test_diff_matches_a_plain_comparison(
    before: dict[str, tuple[str | None, int | None]], after: dict[str, tuple[str | None, int | None]]
) -> None:
    def frame(data: dict[str, tuple[str | None, int | None]]) -> pl.LazyFrame:
        return pl.LazyFrame(
            {
                "Id": list(data),
                "Name": [v[0] for v in data.values()],
                "Score": [v[1] for v in data.values()],
            },
            schema={"Id": pl.String, "Name": pl.String, "Score": pl.Int64},
        )

    result = diff_frames("X", frame(before), frame(after))
    assert set(result.added["Id"]) == set(after) - set(before)
    assert set(result.deleted["Id"]) == set(before) - set(after)
    expected = {
        (rid, name)
        for rid in set(before) & set(after)
        for name, i in (("Name", 0), ("Score", 1))
        if before[rid][i] != after[rid][i]
    }
    assert set(result.changes.select("Id", "field").rows()) == expected


def test_a_side_with_no_rows_and_no_columns_counts_every_record_of_the_other() -> None:
    rows = pl.LazyFrame({"Id": ["a", "b"], "Name": ["n", "m"]})
    nothing = pl.LazyFrame()  # what an export of an object with no rows may leave
    gone = diff_frames("Account", rows, nothing)
    assert sorted(gone.deleted["Id"]) == ["a", "b"] and gone.added.height == 0
    assert gone.columns_removed == [] and gone.changes.height == 0
    new = diff_frames("Account", nothing, rows, ids=["a"])
    assert new.added["Id"].to_list() == ["a"] and new.deleted.height == 0
    assert diff_frames("Account", nothing, nothing).empty
