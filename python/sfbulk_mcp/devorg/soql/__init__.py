"""SOQL for the devorg: parse to a syntax tree, compile to SQLite, shape REST records."""

from __future__ import annotations

from .ast import SoqlQuery
from .parser import parse_soql

__all__ = ["SoqlQuery", "parse_soql"]
