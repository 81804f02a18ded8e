"""The offline extractor on every gold set: the figures issue 7 asks for, kept from slipping.

Seeds (eval/docs), the three blind sets (eval/blind, eval/blind2, eval/blind3): every table found, no
extra table, no silent error, F1 over non-null fields at least 0.99 per set.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from extract.evaluate import EvalReport, load_gold, score
from extract.pipeline import extract_paths
from schemas.record import ErrorEntry, Record

ROOT = Path(__file__).resolve().parents[1] / "eval"
SETS = {"seeds": (ROOT / "gold", ROOT / "docs"), "blind": (ROOT / "blind" / "gold", ROOT / "blind" / "docs"),
        "blind2": (ROOT / "blind2" / "gold", ROOT / "blind2" / "docs"),
        "blind3": (ROOT / "blind3" / "gold", ROOT / "blind3" / "docs")}


@cache
def report(name: str) -> EvalReport:
    gold_dir, docs_dir = SETS[name]
    results = extract_paths(sorted(docs_dir.glob("*.txt")))
    records = [result for result in results if isinstance(result, Record)]
    errors = [result for result in results if isinstance(result, ErrorEntry)]
    return score(load_gold(gold_dir), records, extractor_errors=errors)


@pytest.mark.parametrize("name", sorted(SETS))
def test_every_table_found_and_nothing_extra(name: str) -> None:
    detection = report(name).detection
    assert detection.matched == detection.gold_tables == detection.pred_tables
    assert report(name).extractor_errors == []


@pytest.mark.parametrize("name", sorted(SETS))
def test_no_silent_error(name: str) -> None:
    fields = report(name).fields
    assert fields.silent == 0, [(e.doc, e.line, e.path, e.gold, e.pred) for e in report(name).errors if not e.flagged]


@pytest.mark.parametrize("name", sorted(SETS))
def test_f1_at_least_099(name: str) -> None:
    assert report(name).fields.f1 >= 0.99
