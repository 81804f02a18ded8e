"""``jixiao export``: the stored records with corrections applied, in jsonl, csv and xlsx, plus the log."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from extract.cli import app
from extract.export import RECORD_COLUMNS, csv_cell
from extract.load import load_text
from extract.pipeline import extract_document
from extract.store import open_store, review_field, save_document, start_run
from schemas.record import Record

DOCS = Path(__file__).resolve().parents[1] / "eval" / "docs"
CITY = DOCS / "000_cc1de7d507d20929.txt"
FORMULA = '=HYPERLINK("http://evil.example","点击")'


def reviewed_db(tmp_path: Path) -> tuple[Path, int, Record]:
    """A store with one table (000, its score misread as 9 and a formula as project name), reviewed twice."""
    text = CITY.read_text(encoding="utf-8").replace("自评得分为8分", "自评得分为9分")
    text = text.replace("市低保中心单位运转办公、核对工作经费", FORMULA)
    db = tmp_path / "export.db"
    store = open_store(str(db))
    document = load_text(text, "misread.txt")
    saved = save_document(store, start_run(store, [], "rules").run_id, document, extract_document(document))
    [record_id] = saved.record_ids
    review_field(store, record_id, "execution_score", action="correct", typed="8", reviewer="王审核", note="8 误读为 9")
    review_field(store, record_id, "indicators[3].actual", action="correct", typed="96%", reviewer="李四")
    review_field(store, record_id, "grade", action="accept", reviewer="李四")
    from extract.store import get_record

    with store.session() as session:
        record = get_record(session, record_id).record
    store.close()
    return db, record_id, record


def run_export(db: Path, fmt: str, output: Path, *extra: str) -> str:
    result = CliRunner().invoke(app, ["export", "--db", str(db), "--format", fmt, "-o", str(output), *extra])
    assert result.exit_code == 0, result.output
    return result.output


def test_jsonl_holds_the_corrected_records_and_the_log_every_change(tmp_path):
    db, _record_id, expected = reviewed_db(tmp_path)
    output = run_export(db, "jsonl", tmp_path / "out" / "records.jsonl")
    assert "3 corrections" not in output and "2 corrections, 1 acceptances" in output

    [line] = (tmp_path / "out" / "records.jsonl").read_text(encoding="utf-8").splitlines()
    record = Record.model_validate_json(line)
    assert record == expected
    assert record.execution_score == 8 and record.indicators[3].actual == "96%"
    assert [(c.field, c.old, c.new, c.by) for c in record.corrections] == \
        [("execution_score", 9, 8, "王审核"), ("indicators[3].actual", "0", "96%", "李四")]
    assert not {"execution-score", "total-score"} & {flag.rule for flag in record.flags}

    log = [json.loads(entry) for entry in
           (tmp_path / "out" / "records.corrections.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(entry["field"], entry["action"], entry["old"], entry["new"], entry["by"]) for entry in log] == [
        ("execution_score", "correct", 9, 8, "王审核"), ("indicators[3].actual", "correct", "0", "96%", "李四"),
        ("grade", "accept", "优", "优", "李四")]
    assert log[0]["note"] == "8 误读为 9" and log[0]["doc"] == "misread.txt" and log[0]["start_line"] == 517
    assert "execution-score" in log[0]["flags"]


def test_the_jsonl_export_is_readable_by_jixiao_check(tmp_path):
    db, _record_id, _expected = reviewed_db(tmp_path)
    run_export(db, "jsonl", tmp_path / "records.jsonl")
    result = CliRunner().invoke(app, ["check", str(tmp_path / "records.jsonl"), "--json"])
    assert result.exit_code in (0, 1), result.output
    assert "execution-score" not in result.output


def test_xlsx_has_records_indicators_flags_and_the_corrections_log(tmp_path):
    db, record_id, expected = reviewed_db(tmp_path)
    run_export(db, "xlsx", tmp_path / "records.xlsx")

    workbook = load_workbook(tmp_path / "records.xlsx")
    assert workbook.sheetnames == ["records", "indicators", "flags", "corrections"]
    header, *rows = workbook["records"].iter_rows(values_only=True)
    assert list(header) == RECORD_COLUMNS
    [row] = [dict(zip(header, values)) for values in rows]
    assert row["record"] == record_id and row["execution_score"] == 8 and row["funds.executed.total"] == 6.43
    assert row["corrections"] == 2 and row["corrected fields"] == "execution_score; indicators[3].actual"
    assert row["project_name"] == expected.project_name

    header, *rows = workbook["indicators"].iter_rows(values_only=True)
    assert len(rows) == len(expected.indicators)
    fourth = dict(zip(header, rows[3]))
    assert fourth["actual"] == "96%" and fourth["corrected fields"] == "actual"

    header, *rows = workbook["flags"].iter_rows(values_only=True)
    assert sorted(dict(zip(header, values))["rule"] for values in rows) == sorted(f.rule for f in expected.flags)

    header, *rows = workbook["corrections"].iter_rows(values_only=True)
    assert [dict(zip(header, values))["field"] for values in rows] == \
        ["execution_score", "indicators[3].actual", "grade"]


def test_text_from_a_document_never_becomes_a_spreadsheet_formula(tmp_path):
    db, _record_id, expected = reviewed_db(tmp_path)
    assert expected.project_name and expected.project_name.startswith("=")
    run_export(db, "xlsx", tmp_path / "records.xlsx")
    run_export(db, "csv", tmp_path / "records.csv")

    sheet = load_workbook(tmp_path / "records.xlsx")["records"]
    column = RECORD_COLUMNS.index("project_name") + 1
    cell = sheet.cell(row=2, column=column)
    assert cell.data_type == "s" and cell.value == expected.project_name

    with (tmp_path / "records.csv").open(encoding="utf-8-sig", newline="") as stream:
        [row] = list(csv.DictReader(stream))
    assert row["project_name"] == "'" + expected.project_name
    assert row["execution_score"] == "8"


@pytest.mark.parametrize("value,shown", [("=1+1", "'=1+1"), ("+86 2298168", "'+86 2298168"), ("@SUM(A1)", "'@SUM(A1)"),
                                         ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"), ("-5%", "-5%"),
                                         ("≥30批次", "≥30批次"), (8, 8), (None, None)])
def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(value, shown):
    assert csv_cell(value) == shown


def test_csv_writes_three_files_and_the_log(tmp_path):
    db, _record_id, expected = reviewed_db(tmp_path)
    output = run_export(db, "csv", tmp_path / "r.csv")
    for name in ("r.csv", "r.indicators.csv", "r.flags.csv", "r.corrections.csv"):
        assert (tmp_path / name).is_file(), output
    with (tmp_path / "r.indicators.csv").open(encoding="utf-8-sig", newline="") as stream:
        assert len(list(csv.DictReader(stream))) == len(expected.indicators)
    with (tmp_path / "r.corrections.csv").open(encoding="utf-8-sig", newline="") as stream:
        log = list(csv.DictReader(stream))
    assert [(entry["field"], entry["action"], entry["by"]) for entry in log] == [
        ("execution_score", "correct", "王审核"), ("indicators[3].actual", "correct", "李四"), ("grade", "accept", "李四")]


def test_the_log_goes_where_asked(tmp_path):
    db, _record_id, _expected = reviewed_db(tmp_path)
    run_export(db, "xlsx", tmp_path / "r.xlsx", "--log", str(tmp_path / "changes.csv"))
    with (tmp_path / "changes.csv").open(encoding="utf-8-sig", newline="") as stream:
        assert len(list(csv.DictReader(stream))) == 3


def test_bad_export_requests_are_one_line(tmp_path):
    db, _record_id, _expected = reviewed_db(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    runner = CliRunner()
    for args in (["--format", "pdf", "-o", str(tmp_path / "x.pdf")],
                 ["--format", "jsonl", "-o", str(blocker / "inside.jsonl")]):
        result = runner.invoke(app, ["export", "--db", str(db), *args])
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
