"""Ingest results come back in any order; every input row must get exactly one outcome."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from sfbulk_mcp.bulk.matching import (
    _DIGEST,
    _NORMAL,
    FAILED,
    SUCCESS,
    UNPROCESSED,
    match_keys,
    match_outcomes,
    normal_file_keys,
    parse_row_error,
    read_csv_text,
    result_file_keys,
    result_keys,
    row_keys,
    upload_keys,
)


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    def cell(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if any(c in v for c in ',"\n') else v

    lines = [",".join(cell(h) for h in header)] + [",".join(cell(v) for v in r) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def test_duplicates_and_shuffled_results_each_get_one_outcome() -> None:
    upload = read_csv_text(_csv(["Name", "Phone"], [["A", "1"], ["B", "2"], ["A", "1"], ["C", ""]]))
    success = read_csv_text(
        _csv(
            ["sf__Id", "sf__Created", "Name", "Phone"],
            [["001C", "true", "C", ""], ["001A", "true", "A", "1"]],
        )
    )
    failed = read_csv_text(
        _csv(
            ["sf__Id", "sf__Error", "Name", "Phone"],
            [["", "DUPLICATE_VALUE:duplicate value found:Name --", "A", "1"]],
        )
    )
    unprocessed = read_csv_text(_csv(["Name", "Phone"], [["B", "2"]]))
    outcomes = match_outcomes(upload, success, failed, unprocessed)
    assert outcomes["outcome"].to_list() == ["success", "unprocessed", "failed", "success"]
    assert outcomes["sf__Id"].to_list()[0] == "001A"
    assert outcomes["sf__Id"].to_list()[3] == "001C"


def test_a_row_no_result_mentions_is_unprocessed() -> None:
    upload = read_csv_text(_csv(["Name"], [["A"], ["B"]]))
    success = read_csv_text(_csv(["sf__Id", "sf__Created", "Name"], [["001", "true", "A"]]))
    outcomes = match_outcomes(upload, success, read_csv_text(b""), read_csv_text(b""))
    assert outcomes["outcome"].to_list() == ["success", "unprocessed"]


def test_result_columns_match_case_insensitively_and_with_padding() -> None:
    upload = read_csv_text(_csv(["Name", "Email"], [["Acme", "A@X.COM"]]))
    success = read_csv_text(
        _csv(["sf__Id", "sf__Created", "NAME", "email"], [["001", "false", "Acme", "a@x.com "]])
    )
    outcomes = match_outcomes(upload, success, read_csv_text(b""), read_csv_text(b""))
    assert outcomes["outcome"].to_list() == ["success"]


def test_error_text_splits_into_code_message_and_fields() -> None:
    err = parse_row_error("REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --")
    assert (err.code, err.message, err.fields) == (
        "REQUIRED_FIELD_MISSING",
        "Required fields are missing: [Name]",
        ("Name",),
    )
    lock = parse_row_error("UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record:--")
    assert lock.code == "UNABLE_TO_LOCK_ROW" and lock.fields == ()
    two = parse_row_error("FIELD_INTEGRITY_EXCEPTION:bad:Name,Phone --")
    assert two.fields == ("Name", "Phone")


names = st.text(alphabet='ab,"\n é', min_size=0, max_size=4)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(names, st.sampled_from(["1", "2", ""])), min_size=1, max_size=30),
    seed=st.integers(0, 1000),
)
def test_any_split_of_any_rows_is_matched_exactly(rows: list[tuple[str, str]], seed: int) -> None:
    rng = random.Random(seed)
    header = ["Name", "Code"]
    upload = read_csv_text(_csv(header, [list(r) for r in rows]))
    fates = [rng.choice(["s", "f", "u"]) for _ in rows]
    succ = [[f"id{i}", "true", *r] for i, (r, k) in enumerate(zip(rows, fates)) if k == "s"]
    fail = [["", "X_ERR:bad:Name --", *r] for r, k in zip(rows, fates) if k == "f"]
    unp = [list(r) for r, k in zip(rows, fates) if k == "u"]
    for group in (succ, fail, unp):
        rng.shuffle(group)
    outcomes = match_outcomes(
        upload,
        read_csv_text(_csv(["sf__Id", "sf__Created", *header], succ))
        if succ
        else read_csv_text(b""),
        read_csv_text(_csv(["sf__Id", "sf__Error", *header], fail)) if fail else read_csv_text(b""),
        read_csv_text(_csv(header, unp)) if unp else read_csv_text(b""),
    )
    assert outcomes.height == len(rows)
    got = outcomes["outcome"].to_list()
    want = {"s": "success", "f": "failed", "u": "unprocessed"}
    # Identical rows are interchangeable, so compare the multiset of outcomes per content.
    by_content: dict[tuple[str, str], list[str]] = {}
    expected: dict[tuple[str, str], list[str]] = {}
    for r, g, k in zip(rows, got, fates):
        by_content.setdefault(r, []).append(g)
        expected.setdefault(r, []).append(want[k])
    assert {k: sorted(v) for k, v in by_content.items()} == {
        k: sorted(v) for k, v in expected.items()
    }


def _outcomes_of(upload: bytes, success: bytes, tmp_path: Path) -> list[str]:
    """Outcomes as the import computes them: the upload and a success file decoded in pieces."""
    header, uploaded = upload_keys(upload)
    path = tmp_path / "success.csv"
    path.write_bytes(success)
    results = [result_file_keys(path, header, SUCCESS)]
    outcomes = match_keys(uploaded, results)
    assert outcomes.height == uploaded.height
    return list(outcomes["outcome"])


def test_an_echoed_row_matches_its_upload_whatever_the_bom_or_line_ending(tmp_path: Path) -> None:
    upload = _csv(["Name", "Phone"], [["a,b", ""], ['Zo"ë', "2"], ["Name", "Phone"], ["x", "9"]])
    echo = b"\xef\xbb\xbf" + _csv(
        ["sf__Id", "sf__Created", "Name", "Phone"],
        [["1", "true", "Name", "Phone"], ["2", "true", "a,b", ""], ["3", "true", 'Zo"ë', "2"]],
    ).replace(b"\n", b"\r\n")
    assert _outcomes_of(upload, echo, tmp_path) == [SUCCESS, SUCCESS, SUCCESS, UNPROCESSED]
    header, keys = upload_keys(upload)
    assert header == ["Name", "Phone"] and keys.height == 4


def test_a_row_spelling_the_header_keeps_its_place(tmp_path: Path) -> None:
    upload = _csv(["Name"], [["Name"], ["B"]])
    echo = _csv(["sf__Id", "sf__Created", "Name"], [["2", "true", "B"], ["1", "true", "Name"]])
    assert _outcomes_of(upload, echo, tmp_path) == [SUCCESS, SUCCESS]


def test_a_ragged_result_file_still_gives_every_row_one_outcome(tmp_path: Path) -> None:
    upload = _csv(["Name", "Phone"], [["A", "1"], ["B", "2"], ["C", "3"]])
    echo = b"sf__Id,sf__Created,Name,Phone\n1,true,A,1\n2,true,B,2,extra\n3,true\n"
    # Read leniently: extra fields are dropped, missing ones are empty.
    assert _outcomes_of(upload, echo, tmp_path) == [SUCCESS, SUCCESS, UNPROCESSED]


def test_empty_bodies_and_a_header_alone_have_no_rows(tmp_path: Path) -> None:
    for body in (b"", b"\r\n", b"\xef\xbb\xbf"):
        assert upload_keys(body)[1].height == 0
        path = tmp_path / "empty.csv"
        path.write_bytes(body)
        assert result_file_keys(path, ["Name"], SUCCESS).height == 0
    header, keys = upload_keys(b"Name,Phone\n")
    assert header == ["Name", "Phone"] and keys.height == 0
    assert _outcomes_of(_csv(["Name"], [["A"]]), b"sf__Id,sf__Created,Name\n", tmp_path) == [
        UNPROCESSED
    ]


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.tuples(names, st.sampled_from(["1", "2", ""])), min_size=1, max_size=30))
def test_decoded_and_scanned_digests_agree(rows: list[tuple[str, str]]) -> None:
    body = _csv(["Name", "Code"], [list(r) for r in rows])
    header, decoded = upload_keys(body)
    scanned = row_keys(read_csv_text(body), header)
    assert decoded.equals(scanned)
    # The exact digests alone come from the decoder's digest mode: the same values.
    assert upload_keys(body, normal=False)[1].equals(scanned.drop(_NORMAL))
    echo = _csv(
        ["sf__Id", "sf__Created", "code", "NAME"],
        [[f"001{i}", "true", code, name] for i, (name, code) in enumerate(rows)],
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "success.csv"
        path.write_bytes(echo)
        from_file = result_file_keys(path, header, SUCCESS, normal=False)
        from_text = result_keys(read_csv_text(echo), header, SUCCESS, normal=False)
    assert from_file.equals(from_text.select(from_file.columns))
    assert from_file.select(_DIGEST).equals(decoded.select(_DIGEST))


def test_case_blind_digests_are_made_from_the_files_only_when_a_row_has_no_exact_echo(
    tmp_path: Path,
) -> None:
    upload = _csv(["Name", "Email"], [["Acme", "A@X.COM"], ["Bolt", "b@y.io"], ["Cove", "c@z"]])
    (tmp_path / "upload.csv").write_bytes(upload)
    success = tmp_path / "success.csv"
    failed = tmp_path / "failed.csv"
    failed.write_bytes(
        _csv(
            ["sf__Id", "sf__Error", "Name", "Email"],
            [["", "DUPLICATE_VALUE:dup:--", "Cove", "c@z"]],
        )
    )
    calls: list[int] = []

    def outcomes(echo: list[list[str]]) -> list[str]:
        success.write_bytes(_csv(["sf__Id", "sf__Created", "NAME", "email"], echo))
        header, uploaded = upload_keys(upload, normal=False)
        results = [
            result_file_keys(success, header, SUCCESS, normal=False),
            result_file_keys(failed, header, FAILED, normal=False),
        ]

        def normalize() -> tuple[pl.DataFrame, list[pl.DataFrame]]:
            calls.append(1)
            return normal_file_keys(tmp_path / "upload.csv", None), [
                normal_file_keys(success, header),
                normal_file_keys(failed, header),
            ]

        return list(match_keys(uploaded, results, normalize)["outcome"])

    # Echoed verbatim: the exact digests settle every row, the files are not read again.
    exact = [["001", "true", "Bolt", "b@y.io"], ["002", "true", "Acme", "A@X.COM"]]
    assert outcomes(exact) == [SUCCESS, SUCCESS, FAILED]
    assert calls == []
    # Echoed with other case and padding: the second digests, made on demand, match them.
    assert outcomes([["001", "true", " bolt", "B@Y.IO"], ["002", "true", "acme ", "a@x.com"]]) == [
        SUCCESS,
        SUCCESS,
        FAILED,
    ]
    assert calls == [1]
    # A row with no echo at all stays unprocessed either way.
    assert outcomes([["002", "true", "ACME", "a@x.com"]]) == [SUCCESS, UNPROCESSED, FAILED]
    assert normal_file_keys(None, ["Name"]).height == 0
