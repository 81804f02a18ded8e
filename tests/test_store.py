"""The store: idempotent and resumable runs, corrections beside the extracted values, re-verification.

The documents are the seed documents in eval/docs, sometimes with one printed number
changed the way OCR misreads it (自评得分为8分 → 9分), so that the numeric rules fire on
a real table and a reviewer's correction has something to clear.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from extract.cli import app
from extract.load import load_text
from extract.pipeline import extract_document
from extract.store import (
    ReviewInputError,
    build_queue,
    field_status,
    get_record,
    open_store,
    review_field,
    save_document,
    start_run,
    store_counts,
)
from schemas.record import Record

DOCS = Path(__file__).resolve().parents[1] / "eval" / "docs"
CITY = DOCS / "000_cc1de7d507d20929.txt"
SCORE_LINE = 534
"""000:534 prints 预算执行率 … 80.38% 自评得分为8分 (the execution score)."""


def misread_city_text() -> str:
    """000 with the execution score misread as 9: 9 ≠ 10 × 80.38%, and 9 + 48 + 30 + 10 ≠ 96."""
    text = CITY.read_text(encoding="utf-8")
    assert text.count("自评得分为8分") == 1
    return text.replace("自评得分为8分", "自评得分为9分")


def store_text(store, text: str, name: str) -> int:
    """Extract one document with the real pipeline and store it; the id of its first record."""
    document = load_text(text, name)
    outcome = extract_document(document)
    plan = start_run(store, [], "rules")
    saved = save_document(store, plan.run_id, document, outcome)
    assert saved.added and len(saved.record_ids) == 1
    return saved.record_ids[0]


@pytest.fixture
def store(tmp_path):
    opened = open_store(str(tmp_path / "review.db"))
    yield opened
    opened.close()


def rules_on(store, record_id: int, field: str | None = None) -> set[str]:
    with store.session() as session:
        record = get_record(session, record_id).record
    return {flag.rule for flag in record.flags if field is None or field in flag.fields}


def raw_data(store, record_id: int) -> dict:
    with store.session() as session:
        from extract.store import RecordRow

        return session.get(RecordRow, record_id).data


# ---------------------------------------------------------------------------------------------- corrections


def test_correction_is_applied_on_read_and_the_extracted_value_is_kept(store):
    record_id = store_text(store, misread_city_text(), "misread.txt")
    before = raw_data(store, record_id)
    assert before["execution_score"] == 9
    assert {"execution-score", "total-score"} <= rules_on(store, record_id)

    outcome = review_field(store, record_id, "execution_score", action="correct", typed="8", reviewer="王审核",
                           note="OCR read 8 as 9")

    assert (outcome.old, outcome.new) == (9, 8)
    assert {flag.rule for flag in outcome.cleared} >= {"execution-score", "total-score"}
    assert outcome.appeared == []
    with store.session() as session:
        reviewed = get_record(session, record_id)
    assert reviewed.record.execution_score == 8
    assert reviewed.original.execution_score == 9
    assert raw_data(store, record_id) == before, "the extracted record must never be overwritten"
    [correction] = reviewed.record.corrections
    assert (correction.field, correction.old, correction.new, correction.by, correction.note) == \
        ("execution_score", 9, 8, "王审核", "OCR read 8 as 9")
    assert not {"execution-score", "total-score"} & rules_on(store, record_id)


def test_a_wrong_correction_raises_a_flag_and_keeps_the_field_pending(store):
    record_id = store_text(store, misread_city_text(), "misread.txt")
    review_field(store, record_id, "execution_score", action="correct", typed="8", reviewer="王审核")

    outcome = review_field(store, record_id, "total_score", action="correct", typed="95", reviewer="王审核")

    assert "total-score" in {flag.rule for flag in outcome.appeared}
    with store.session() as session:
        queue = build_queue(session)
    status = {item.field: item.status for item in queue.items if item.record_id == record_id}
    assert status["total_score"] == "pending", "a correction that breaks a rule still needs a reviewer"
    assert status["execution_score"] == "pending", "the new flag names it too"
    assert status["execution_rate"] == "pending" if "execution_rate" in status else True


def test_accepting_as_printed_acknowledges_the_flags_and_counts_as_reviewed(store):
    record_id = store_text(store, misread_city_text(), "misread.txt")
    with store.session() as session:
        before = build_queue(session)
    fields = [item.field for item in before.items if item.record_id == record_id]
    assert "total_score" in fields and before.reviewed == 0

    outcome = review_field(store, record_id, "total_score", action="accept", reviewer="李四")

    assert outcome.action == "accept" and outcome.old == outcome.new == 96
    with store.session() as session:
        after = build_queue(session)
        reviewed = get_record(session, record_id)
    assert after.reviewed == 1 and after.total == before.total
    assert next(item for item in after.items if item.field == "total_score").status == "accepted"
    assert "total-score" in rules_on(store, record_id), "the numbers still disagree; the flag stays on the record"
    assert reviewed.record.corrections == [], "an acceptance changes no value"
    assert reviewed.changes[-1].seen_rules >= {"total-score"}


def test_an_unchanged_value_saved_is_an_acceptance(store):
    record_id = store_text(store, misread_city_text(), "misread.txt")
    outcome = review_field(store, record_id, "execution_score", action="correct", typed=" 9 ", reviewer="王审核")
    assert outcome.action == "accept"


def test_a_correction_settles_the_extractors_doubt_about_a_field(store):
    """Extractor flags are not recomputed; once a reviewer has set the field they are dropped."""
    text = CITY.read_text(encoding="utf-8").replace("项目负责人\t\t张建平", "项目负责人\t\t")
    record_id = store_text(store, text, "no-lead.txt")
    doubts = rules_on(store, record_id, "project_lead")
    assert doubts and not doubts & {"execution-score"}, doubts

    review_field(store, record_id, "project_lead", action="correct", typed="张建平", reviewer="王审核")

    assert rules_on(store, record_id, "project_lead") == set()
    with store.session() as session:
        assert get_record(session, record_id).record.project_lead == "张建平"


def test_a_missing_block_is_created_for_a_corrected_amount(store):
    record_id = store_text(store, misread_city_text(), "misread.txt")
    review_field(store, record_id, "funds.balance", action="correct", typed="1.57", reviewer="王审核")
    with store.session() as session:
        assert get_record(session, record_id).record.funds.balance == 1.57


@pytest.mark.parametrize("path", ["__class__", "evidence.execution_score", "flags[0].message", "source.doc",
                                  "format_version", "indicators[99].name", "funds.planned.nope", "a..b",
                                  "funds.planned", "indicators", "indicators[0]", "execution_score[0]"])
def test_field_paths_are_checked_against_the_schema(store, path):
    record_id = store_text(store, misread_city_text(), "misread.txt")
    with pytest.raises(ReviewInputError):
        review_field(store, record_id, path, action="correct", typed="1", reviewer="王审核")
    with store.session() as session:
        assert get_record(session, record_id).changes == []


@pytest.mark.parametrize("field,typed", [("execution_score", "abc"), ("execution_score", "nan"),
                                         ("grade", "甲"), ("fill_date", "2025-13-01"), ("eval_year", "2024.5")])
def test_values_are_validated_by_the_record_model(store, field, typed):
    record_id = store_text(store, misread_city_text(), "misread.txt")
    with pytest.raises(ReviewInputError, match=field.split(".")[0]):
        review_field(store, record_id, field, action="correct", typed=typed, reviewer="王审核")


def test_every_change_names_its_reviewer_and_stale_pages_are_refused(store):
    record_id = store_text(store, misread_city_text(), "misread.txt")
    with pytest.raises(ReviewInputError, match="reviewer"):
        review_field(store, record_id, "execution_score", action="correct", typed="8", reviewer="  ")
    review_field(store, record_id, "execution_score", action="correct", typed="8", reviewer="甲", seen=9)
    with pytest.raises(ReviewInputError, match="meanwhile"):
        review_field(store, record_id, "execution_score", action="correct", typed="7", reviewer="乙", seen=9)


def test_status_of_a_field():
    import datetime as dt

    from extract.store import Change, FieldFlag

    rule = FieldFlag("total-score", "error", "m", True, 0)
    doubt = FieldFlag("extract-missing-value", "warning", "m", False, 1)
    at = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)

    def change(action: str, seen: tuple[str, ...]) -> Change:
        return Change(1, 1, "total_score", action, 1, 1, None, "x", at, None, tuple((r, "error") for r in seen))

    assert field_status([rule], []) == "pending"
    assert field_status([rule], [change("accept", ("total-score",))]) == "accepted"
    assert field_status([rule], [change("accept", ("grade-mismatch",))]) == "pending"
    assert field_status([rule], [change("correct", ("total-score",))]) == "pending"
    assert field_status([doubt], [change("correct", ())]) == "corrected"
    assert field_status([], [change("correct", ("total-score",))]) == "corrected"


# ---------------------------------------------------------------------------------------------- runs


def expected_records(paths: list[Path]) -> list[dict]:
    """What a plain run extracts from the files, independently of the store."""
    from extract.pipeline import iter_paths

    return [result.model_dump(mode="json") for outcome in iter_paths(paths) for result in outcome.results
            if isinstance(result, Record)]


def stored_records(db: Path) -> list[dict]:
    store = open_store(str(db), create=False)
    try:
        with store.session() as session:
            from extract.store import RecordRow

            return [row.data for row in session.query(RecordRow).order_by(RecordRow.id)]
    finally:
        store.close()


def test_rerunning_the_same_documents_adds_nothing(tmp_path):
    db = tmp_path / "runs.db"
    runner = CliRunner()
    first = runner.invoke(app, ["extract", str(DOCS), "--db", str(db)])
    assert first.exit_code == 0, first.output
    store = open_store(str(db), create=False)
    counts = store_counts(store)
    store.close()
    files = sorted(DOCS.glob("*.txt"))
    expected = expected_records(files)
    assert counts["documents"] == len(files) and counts["records"] == len(expected)
    assert stored_records(db) == expected, "the store holds exactly what a plain run extracts"

    second = runner.invoke(app, ["extract", str(DOCS), "--db", str(db)])

    assert second.exit_code == 0, second.output
    assert f"{len(files)} already stored" in second.output
    store = open_store(str(db), create=False)
    assert store_counts(store) == {**counts, "runs": 2}
    store.close()


def test_a_reencoded_copy_is_the_same_document(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    text = CITY.read_text(encoding="utf-8")
    (folder / "a.txt").write_text(text, encoding="utf-8")
    (folder / "b.txt").write_bytes(text.encode("gb18030"))
    db = tmp_path / "copy.db"
    result = CliRunner().invoke(app, ["extract", str(folder), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "1 already stored" in result.output
    store = open_store(str(db), create=False)
    assert store_counts(store)["documents"] == 1
    store.close()


def test_records_go_to_a_file_as_well_when_asked(tmp_path):
    out = tmp_path / "records.jsonl"
    result = CliRunner().invoke(app, ["extract", str(CITY), "--db", str(tmp_path / "x.db"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == len(expected_records([CITY]))


def test_an_unusable_database_is_one_line(tmp_path):
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("这不是数据库\n" * 200, encoding="utf-8")
    runner = CliRunner()
    for args in (["extract", str(CITY), "--db", str(not_a_db)],
                 ["extract", str(CITY), "--db", str(tmp_path / "no" / "such" / "dir.db")],
                 ["review", "--db", str(tmp_path / "missing.db")],
                 ["export", "--db", str(tmp_path / "missing.db"), "-o", str(tmp_path / "x.jsonl")]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output


def make_copies(folder: Path, count: int) -> list[Path]:
    """Distinct documents that each hold one table of its own (a project name of its own, so not duplicates)."""
    folder.mkdir()
    text = CITY.read_text(encoding="utf-8")
    name = "市低保中心单位运转办公、核对工作经费"
    assert text.count(name) == 1
    paths = []
    for number in range(count):
        path = folder / f"copy_{number:03d}.txt"
        path.write_text(text.replace(name, f"第{number:03d}号试点项目{'甲乙丙丁戊己庚辛壬癸'[number % 10]}"),
                        encoding="utf-8")
        paths.append(path)
    return paths


def count_rows(db: Path, sql: str) -> int:
    with sqlite3.connect(db, timeout=30) as connection:
        return connection.execute(sql).fetchone()[0]


def test_a_run_killed_half_way_resumes_without_duplicates_or_losses(tmp_path):
    paths = make_copies(tmp_path / "in", 30)
    tables_per_document = len(extract_document(load_text(paths[0].read_text(encoding="utf-8"), "x")).results)
    db = tmp_path / "killed.db"
    command = [sys.executable, "-c", "from extract.cli import main; main()", "extract", str(tmp_path / "in"),
               "--db", str(db), "-q"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        stored = 0
        while time.monotonic() < deadline and process.poll() is None:
            if db.exists():
                try:
                    stored = count_rows(db, "select count(*) from documents")
                except sqlite3.OperationalError:
                    stored = 0
                if stored >= 2:
                    break
            time.sleep(0.01)
        assert process.poll() is None, "the run finished before it could be killed; give it more documents"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL

    documents_after_kill = count_rows(db, "select count(*) from documents")
    assert 2 <= documents_after_kill < len(paths)
    assert count_rows(db, "select count(*) from tables") == documents_after_kill * tables_per_document, \
        "a killed run leaves whole documents only"
    assert count_rows(db, "select count(*) from runs where finished_at is null") == 1

    rerun = subprocess.run(command[:-1], check=False, capture_output=True, text=True, timeout=120)

    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(paths) - documents_after_kill} documents added" in rerun.stderr
    assert f"{documents_after_kill} already stored" in rerun.stderr
    assert count_rows(db, "select count(*) from documents") == len(paths)
    assert count_rows(db, "select count(distinct content_hash) from documents") == len(paths)
    assert count_rows(db, "select count(*) from tables") == len(paths) * tables_per_document
    assert count_rows(db, "select count(*) from records") == len(paths) * tables_per_document
    names = {row[0] for row in sqlite3.connect(db).execute("select name from documents")}
    assert names == {path.name for path in paths}


@pytest.mark.skipif(not os.environ.get("JIXIAO_TEST_POSTGRES_URL"),
                    reason="set JIXIAO_TEST_POSTGRES_URL=postgresql://user@host/db to run the store on PostgreSQL")
def test_the_store_speaks_postgresql():
    """The same store on a PostgreSQL server (tables dropped first: point it at a scratch database)."""
    from extract.store import Base

    url = os.environ["JIXIAO_TEST_POSTGRES_URL"]
    store = open_store(url)
    Base.metadata.drop_all(store.engine)
    store.close()
    store = open_store(url)
    try:
        record_id = store_text(store, misread_city_text(), "misread.txt")
        outcome = review_field(store, record_id, "execution_score", action="correct", typed="8", reviewer="王审核")
        assert "execution-score" in {flag.rule for flag in outcome.cleared}
        with store.session() as session:
            assert get_record(session, record_id).record.execution_score == 8
            assert build_queue(session).reviewed == 1
    finally:
        store.close()
