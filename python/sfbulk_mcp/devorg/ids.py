"""Salesforce record Ids: 15/18-character forms, checksums, key prefixes, generation."""

from __future__ import annotations

import itertools
import re
import threading

from .errors import DevOrgError

_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID15 = re.compile(r"[A-Za-z0-9]{15}")
_ID18 = re.compile(r"[A-Za-z0-9]{18}")

# The devorg's "pod" characters, placed after the key prefix like a real instance id.
_POD = "Dv"


# Each character of an Id → "1" for an upper-case letter, else "0".
_UPPER_FLAGS = str.maketrans({chr(c): "1" if "A" <= chr(c) <= "Z" else "0" for c in range(128)})


def _checksum(id15: str) -> str:
    # Bit i of a 5-character chunk is set where character i is upper case: the flags of a
    # chunk, read backwards, are that number in binary.
    flags = id15.translate(_UPPER_FLAGS)
    return (_CHECKSUM_ALPHABET[int(flags[4::-1], 2)] + _CHECKSUM_ALPHABET[int(flags[9:4:-1], 2)]
            + _CHECKSUM_ALPHABET[int(flags[14:9:-1], 2)])


def to_18(id15: str) -> str:
    """The 18-character, case-insensitive-safe form of an Id (15 or 18 chars in)."""
    if len(id15) == 18 and _ID18.fullmatch(id15):
        return id15[:15] + _checksum(id15[:15])
    if not _ID15.fullmatch(id15):
        raise DevOrgError("MALFORMED_ID", f"Id in incorrect format: {id15}")
    return id15 + _checksum(id15)


def to_15(id_: str) -> str:
    """The 15-character, case-sensitive form of an Id."""
    if len(id_) not in (15, 18) or not _ID18.fullmatch(id_.ljust(18, "0")):
        raise DevOrgError("MALFORMED_ID", f"Id in incorrect format: {id_}")
    return id_[:15]


def is_valid_id(s: str) -> bool:
    """True for a well-formed 15-char Id, or an 18-char Id whose checksum matches.

    Salesforce accepts an 18-char Id whose suffix differs only in letter case, as the
    suffix exists to survive case-insensitive tools.
    """
    if not isinstance(s, str):
        return False
    if len(s) == 15:
        return _ID15.fullmatch(s) is not None
    if len(s) == 18 and _ID18.fullmatch(s):
        return _checksum(s[:15]) == s[15:].upper()
    return False


def normalize_id(s: str, *, field: str | None = None) -> str:
    """15 or 18 → canonical 18 characters.

    Raises MALFORMED_ID for a bad record Id, or INVALID_ID_FIELD when ``field`` names the
    field that held it (Salesforce's wording for a bad reference value).
    """
    if isinstance(s, str) and is_valid_id(s):
        return s[:15] + _checksum(s[:15])
    if field is not None:
        raise DevOrgError(
            "INVALID_ID_FIELD",
            f"{field}: id value of incorrect type: {s}",
            fields=[field],
        )
    raise DevOrgError("MALFORMED_ID", f"Id in incorrect format: {s}", fields=["Id"])


def key_prefix(record_id: str) -> str:
    """The three-character key prefix naming the object an Id belongs to."""
    return record_id[:3]


def encode_base62(n: int, width: int) -> str:
    """``n`` in base 62 (0-9A-Za-z), left-padded with zeros to ``width``."""
    chars = []
    while n:
        n, r = divmod(n, 62)
        chars.append(_BASE62[r])
    body = "".join(reversed(chars)) or "0"
    if len(body) > width:
        raise OverflowError(f"{n} does not fit in {width} base-62 digits")
    return body.rjust(width, "0")


def id_head(key_prefix: str) -> str:
    """The first 6 characters of every Id the devorg makes under ``key_prefix``."""
    return key_prefix + _POD + "0"


def make_id(key_prefix: str, sequence: int) -> str:
    """The 18-char Id of the ``sequence``-th record under ``key_prefix``."""
    id15 = id_head(key_prefix) + encode_base62(sequence, 9)
    return id15 + _checksum(id15)


def _upper(char: str) -> int:
    return 1 if "A" <= char <= "Z" else 0


# Every pair of last two base-62 digits, with its share of the third checksum character
# (characters 13 and 14 of the Id are bits 3 and 4 of it).
_TAILS = [(a + b, _upper(a) << 3 | _upper(b) << 4) for a in _BASE62 for b in _BASE62]


def make_ids(key_prefix: str, first: int, count: int) -> list[str]:
    """`make_id(key_prefix, n)` for n in first, first + 1, …: the same Ids, made a block of
    3,844 at a time (only the last two digits and one checksum character vary in a block)."""
    ids: list[str] = []
    sequence, stop = first, first + count
    while sequence < stop:
        block = sequence - sequence % len(_TAILS)
        id15 = id_head(key_prefix) + encode_base62(block, 9)
        head, checksum = id15[:13], _checksum(id15)
        fixed = _upper(id15[10]) | _upper(id15[11]) << 1 | _upper(id15[12]) << 2
        start, end = sequence - block, min(stop - block, len(_TAILS))
        ids += [head + tail + checksum[:2] + _CHECKSUM_ALPHABET[fixed | bits]
                for tail, bits in _TAILS[start:end]]
        sequence = block + end
    return ids


class IdFactory:
    """Hands out unique, well-formed 18-character Ids per key prefix (thread-safe)."""

    def __init__(self, start: dict[str, int] | None = None) -> None:
        self._next: dict[str, int] = dict(start or {})
        self._lock = threading.Lock()

    def new_id(self, key_prefix: str) -> str:
        """A fresh Id under ``key_prefix``."""
        return make_id(key_prefix, self.reserve(key_prefix, 1))

    def reserve(self, key_prefix: str, count: int) -> int:
        """Reserve ``count`` consecutive sequence numbers; returns the first."""
        with self._lock:
            first = self._next.get(key_prefix, 1)
            self._next[key_prefix] = first + count
            return first

    def advance_past(self, key_prefix: str, sequence: int) -> None:
        """Never hand out ``sequence`` or anything below it again (used on reopen)."""
        with self._lock:
            if self._next.get(key_prefix, 1) <= sequence:
                self._next[key_prefix] = sequence + 1

    def ids(self, key_prefix: str, count: int) -> itertools.starmap[str]:
        """``count`` fresh Ids, generated lazily."""
        first = self.reserve(key_prefix, count)
        return itertools.starmap(make_id, ((key_prefix, s) for s in range(first, first + count)))


def decode_base62(text: str) -> int:
    """Inverse of :func:`encode_base62`."""
    n = 0
    for ch in text:
        n = n * 62 + _BASE62.index(ch)
    return n


def sequence_of(record_id: str) -> int | None:
    """The sequence number of an Id this devorg generated, else None."""
    if len(record_id) < 15 or record_id[3:6] != _POD + "0":
        return None
    try:
        return decode_base62(record_id[6:15])
    except ValueError:
        return None
