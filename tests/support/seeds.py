"""The seed documents shipped in eval/docs, loaded once per test session."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from extract.load import Document, load
from extract.segment import TableSpan, segment

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "eval" / "docs"
GOLD = ROOT / "eval" / "gold"
FILES = {
    "000": "000_cc1de7d507d20929.txt",
    "001": "001_fe13dc1954f10c91.part-a.txt",
    "002": "002_df651f07c846b8e4.txt",
    "003": "003_8f17777081bc2c59.part-a.txt",
}


@cache
def document(doc: str) -> Document:
    return load(DOCS / FILES[doc])


@cache
def lines(doc: str) -> tuple[str, ...]:
    return tuple((DOCS / FILES[doc]).read_text(encoding="utf-8").split("\n"))


@cache
def spans(doc: str) -> tuple[TableSpan, ...]:
    return tuple(segment(document(doc)))
