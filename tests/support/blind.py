"""Records of a blind-set document, and whether a flag names a field."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from extract.load import load
from extract.pipeline import extract_document
from schemas.record import Record

EVAL = Path(__file__).resolve().parents[2] / "eval"


@cache
def records_of(path: Path) -> tuple[Record, ...]:
    return tuple(result for result in extract_document(load(path)).results if isinstance(result, Record))


def record_at(path: Path, line: int) -> Record:
    """The record whose span holds ``line``."""
    return next(record for record in records_of(path) if record.source.start_line <= line <= record.source.end_line)


def flagged(record: Record, path: str) -> bool:
    """A flag names ``path`` or a parent of it."""
    return any(path == field or path.startswith((field + ".", field + "["))
               for flag in record.flags for field in flag.fields)
