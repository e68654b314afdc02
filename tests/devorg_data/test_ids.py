"""Record Ids: 15/18-character forms, checksums, key prefixes, generation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sfbulk_mcp.devorg.errors import DevOrgError
from sfbulk_mcp.devorg.ids import (
    IdFactory,
    is_valid_id,
    make_id,
    make_ids,
    normalize_id,
    to_15,
    to_18,
)

ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
id15s = st.text(alphabet=ALNUM, min_size=15, max_size=15)


def test_known_conversion_from_15_to_18() -> None:
    # Worked by hand from the documented algorithm: chunk "001A0" has only bit 3 set (I),
    # "00000" none (A), "6Vm9r" bit 1 (C).
    assert to_18("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert to_18("003000000000000") == "003000000000000AAA"
    assert to_18("ZZZZZZZZZZZZZZZ") == "ZZZZZZZZZZZZZZZ555"


def test_both_forms_normalize_to_the_same_18() -> None:
    assert normalize_id("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert normalize_id("001A0000006Vm9rIAC") == "001A0000006Vm9rIAC"
    assert normalize_id("001A0000006Vm9riac") == "001A0000006Vm9rIAC"  # suffix case-insensitive
    assert to_15("001A0000006Vm9rIAC") == "001A0000006Vm9r"


@pytest.mark.parametrize("bad", ["", "001", "001A0000006Vm9r!", "001A0000006Vm9rXYZ", "x" * 19])
def test_malformed_ids_are_rejected(bad: str) -> None:
    assert not is_valid_id(bad)
    with pytest.raises(DevOrgError) as err:
        normalize_id(bad)
    assert err.value.error_code == "MALFORMED_ID"


@given(id15s)
def test_to_18_round_trips_and_validates(id15: str) -> None:
    long = to_18(id15)
    assert len(long) == 18 and long[:15] == id15
    assert is_valid_id(long) and to_15(long) == id15
    assert to_18(long) == long


@given(id15s, st.integers(min_value=0, max_value=14))
def test_changing_letter_case_changes_the_checksum(id15: str, i: int) -> None:
    ch = id15[i]
    if not ch.isalpha():
        return
    flipped = id15[:i] + ch.swapcase() + id15[i + 1 :]
    assert to_18(flipped)[15:] != to_18(id15)[15:]


def test_factory_hands_out_unique_well_formed_ids_with_the_prefix() -> None:
    factory = IdFactory()
    ids = [factory.new_id("001") for _ in range(5000)]
    assert len(set(ids)) == 5000
    assert all(i.startswith("001") and len(i) == 18 and is_valid_id(i) for i in ids)
    assert make_id("a00", 1) != make_id("001", 1)


@given(
    prefix=st.text(alphabet=ALNUM, min_size=3, max_size=3),
    first=st.one_of(st.integers(0, 20_000), st.integers(0, 62**9 - 9_000)),
    count=st.integers(0, 8_000),
)
def test_ids_made_in_blocks_are_the_ids_made_one_by_one(
    prefix: str, first: int, count: int
) -> None:
    assert make_ids(prefix, first, count) == [make_id(prefix, first + i) for i in range(count)]


@given(
    prefix=st.text(alphabet=ALNUM, min_size=3, max_size=3),
    sequence=st.one_of(st.integers(0, 20_000), st.integers(0, 62**9 - 1)),
)
def test_the_engine_makes_the_same_ids(prefix: str, sequence: int) -> None:
    from sfbulk_mcp._engine import record_id
    from sfbulk_mcp.devorg.ids import id_head

    assert record_id(id_head(prefix), sequence) == make_id(prefix, sequence)


def test_the_engine_refuses_a_sequence_past_nine_digits() -> None:
    from sfbulk_mcp._engine import record_id

    with pytest.raises(ValueError):
        record_id("001Dv0", 62**9)
