"""The scorer on small hand-made gold/prediction pairs whose right scores are worked out by hand.

Every record below starts with all fields null except ``template``. A table therefore
scores 43 scalar fields (counted in ``test_scalar_fields_are_the_43_leaves``) plus 9 per
gold indicator and 3 per gold category score; the comments do the sums.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from extract import cli_eval
from extract.evaluate import (
    SCALAR_FIELDS,
    EvalInputError,
    NoiseCurve,
    NoisePoint,
    align_names,
    load_gold,
    load_predictions,
    normalise_text,
    score,
    text_similarity,
    values_equal,
)
from extract.report_html import render_html
from schemas.record import (
    CategoryScore,
    ErrorEntry,
    Flag,
    FundLine,
    Funds,
    GoldRecord,
    Indicator,
    Narrative,
    Record,
    Source,
)

SCALARS = 43


# --------------------------------------------------------------------------------------
# builders


def gold_record(doc: str = "a.txt", start: int = 10, end: int = 50, **fields: Any) -> GoldRecord:
    return GoldRecord(source=Source(doc=doc, start_line=start, end_line=end), template=fields.pop("template", "city-project"), **fields)


def pred_record(doc: str = "a.txt", start: int = 10, end: int = 50, flags: list[list[str]] | None = None, **fields: Any) -> Record:
    flag_models = [Flag(rule="test", severity="warning", fields=paths, message="test flag") for paths in flags or []]
    return Record(
        source=Source(doc=doc, start_line=start, end_line=end),
        template=fields.pop("template", "city-project"),
        flags=flag_models,
        **fields,
    )


def as_prediction(gold: GoldRecord, **changes: Any) -> Record:
    """A prediction equal to the gold record, then changed (a perfect extractor, then one mistake)."""
    data = gold.model_dump(exclude={"uncertain", "gold_notes"})
    data.update(changes)
    return Record.model_validate(data)


def indicator(name: str, target: str | None = "≥1", actual: str | None = "≥1") -> Indicator:
    # four non-null fields (level1, name, target, actual), five null ones
    return Indicator(level1="产出指标", name=name, target=target, actual=actual)


A, B, C, D = "每年核对批次", "培训次数统计", "社会救助申请对象认定准确率", "单位核对系统正常运转率"
C_SIMILAR = "社会救助申请对象认定准确度"  # one character off: similarity 1 - 2/26 = 0.92
X_UNRELATED = "网络维护费用"  # shares no character with any gold name


# --------------------------------------------------------------------------------------
# field set and value comparison


def test_scalar_fields_are_the_43_leaves() -> None:
    # template, title, project_name, department, department_code, implementing_unit,
    # implementing_unit_code, project_lead, phone, period, eval_year, fill_date        = 12
    # funds: planned/received/executed × 5 keys + declared, initial, balance           = 18 → 30
    # execution_rate, execution_score, execution_weight                                 =  3 → 33
    # goals × 4, total_score, grade, narrative × 4                                      = 10 → 43
    assert len(SCALAR_FIELDS) == SCALARS
    assert "template" in SCALAR_FIELDS and "funds.received.county" in SCALAR_FIELDS
    assert not {"format_version", "source", "source.doc"} & set(SCALAR_FIELDS)


def test_values_compare_numbers_within_tolerance_and_strings_after_normalisation() -> None:
    assert values_equal(8, 8.0000001)
    assert not values_equal(8, 8.00001)
    assert values_equal(30.01, "30.01")
    assert not values_equal(30.01, "三十")
    assert values_equal("≥ 85%", "≥85%")
    assert values_equal("（含）", "(含)")  # full-width brackets → half-width by NFKC
    assert values_equal("2024.1.1—2024.12.31", "2024.1.1-2024.12.31")
    assert not values_equal("已完成", "己完成")  # glyph repair is the extractor's job, not the scorer's
    assert not values_equal(None, "")
    assert values_equal(None, None)
    assert normalise_text("“需 要”\t维修") == '"需要"维修'


def test_text_similarity_is_the_normalised_indel_ratio() -> None:
    # 14 characters each, one substituted: indel distance 2 → 1 - 2/28 = 0.9286
    assert text_similarity("本项目自评96分，等级为优。", "本项目自评96分,等级为良。") == pytest.approx(1 - 2 / 28)
    assert text_similarity(None, None) == 1.0
    assert text_similarity("x", None) == 0.0


def test_alignment_keeps_order_and_skips_missing_and_extra_rows() -> None:
    # B has no partner (pred dropped it), X has none (pred invented it); C ≈ C_SIMILAR.
    assert align_names([A, B, C, D], [A, C_SIMILAR, D, X_UNRELATED]) == [(0, 0), (2, 1), (3, 2)]
    # order-preserving: a crossing pair is not taken even though both names match exactly
    assert align_names([A, D], [D, A]) in ([(0, 1)], [(1, 0)])
    assert align_names([], [A]) == []


# --------------------------------------------------------------------------------------
# scoring


def test_perfect_prediction_scores_everything_right() -> None:
    gold = gold_record(
        indicators=[indicator(A), indicator(B)],
        category_scores=[CategoryScore(level1="产出指标", weight=50, score=48)],
        total_score=96,
    )
    report = score([gold], [as_prediction(gold)])
    # 43 scalars + 2 × 9 indicator fields + 3 category fields = 64
    assert report.fields.scored == 64
    assert report.fields.correct == 64
    assert report.fields.silent == 0
    # non-null: template, total_score, 2 × 4 indicator fields, 3 category fields = 13
    assert report.fields.gold_non_null == report.fields.pred_non_null == report.fields.true_positive == 13
    assert report.fields.f1 == 1.0
    assert report.detection.recall == report.detection.precision == report.detection.template_accuracy == 1.0


def test_a_flag_on_a_parent_path_makes_a_wrong_field_flagged_not_silent() -> None:
    gold = gold_record(
        funds=Funds(executed=FundLine(total=6.43)),
        total_score=96,
        eval_year=2024,
    )
    pred = pred_record(
        funds=Funds(executed=FundLine(total=6.4)),  # wrong, but the flag names funds.executed
        total_score=96,
        eval_year=2025,  # wrong and nothing names it: silent
        flags=[["funds.executed"]],
    )
    report = score([gold], [pred])
    # 43 scalars, 2 wrong: funds.executed.total (flagged) and eval_year (silent)
    assert report.fields.scored == 43
    assert report.fields.correct == 41
    assert report.fields.flagged_wrong == 1
    assert report.fields.silent == 1
    assert report.fields.silent_error_rate == pytest.approx(1 / 43)
    # non-null gold and pred: template, funds.executed.total, total_score, eval_year = 4 each;
    # right among them: template, total_score = 2 → P = R = 2/4
    assert report.fields.precision == pytest.approx(0.5)
    assert report.fields.recall == pytest.approx(0.5)
    silent = [error for error in report.errors if not error.flagged]
    assert [(error.path, error.gold, error.pred) for error in silent] == [("eval_year", 2024, 2025)]
    assert report.errors[0].path == "eval_year"  # silent errors are listed first


def test_misaligned_indicators_translate_flags_through_the_alignment() -> None:
    gold = gold_record(indicators=[indicator(A), indicator(B), indicator(C), indicator(D, actual="≥95%")])
    pred = pred_record(
        indicators=[
            indicator(A),                    # pred 0 ↔ gold 0, all right
            indicator(C_SIMILAR),            # pred 1 ↔ gold 2, name wrong
            indicator(D, actual="0"),        # pred 2 ↔ gold 3, actual wrong
            indicator(X_UNRELATED),          # pred 3, no gold partner
        ],
        flags=[
            ["indicators[1].name"],  # pred index 1 is gold C: covers gold indicators[2].name, NOT gold [1] (B)
            ["indicators[3]"],       # parent path of the extra row: covers all its fields
            ["indicators[0].target"],  # on a right field
        ],
    )
    report = score([gold], [pred])
    # scalars 43 right. Gold indicators 4 × 9 = 36 fields:
    #   A 9 right; B missing → 9 wrong, silent (the flag on pred [1] is C's, not B's);
    #   C 8 right + name wrong, flagged; D 8 right + actual wrong, silent.
    # Extra X: its 4 non-null fields are wrong, flagged through "indicators[3]".
    # scored 43 + 36 + 4 = 83; right 43 + 9 + 8 + 8 = 68; silent 9 + 1 = 10; flagged wrong 1 + 4 = 5
    assert report.fields.scored == 83
    assert report.fields.correct == 68
    assert report.fields.silent == 10
    assert report.fields.flagged_wrong == 5
    assert report.fields.flagged_correct == 1
    # non-null gold 1 + 16 = 17, non-null pred 1 + 16 = 17; right non-null: template, A 4, C 3, D 3 = 11
    assert report.fields.true_positive == 11
    assert report.fields.precision == pytest.approx(11 / 17)
    assert report.alignment.aligned == 3
    by_path = {error.path: error for error in report.errors}
    assert by_path["indicators[2].name"].flagged and by_path["indicators[2].name"].pred_path == "indicators[1].name"
    assert not by_path["indicators[3].actual"].flagged
    assert by_path["indicators[1]"].kind == "missing-item" and by_path["indicators[1]"].gold == B
    assert by_path["indicators[3]"].kind == "extra-item" and by_path["indicators[3]"].pred == X_UNRELATED
    assert report.errors_total == 15


def test_category_scores_match_by_level1_whatever_their_order() -> None:
    gold = gold_record(category_scores=[CategoryScore(level1="产出指标", weight=50, score=48), CategoryScore(level1="效益指标", weight=30, score=30)])
    pred = pred_record(
        category_scores=[CategoryScore(level1="效益指标", weight=30, score=30), CategoryScore(level1="产出指标", weight=50, score=45)],
        flags=[["category_scores[1].score"]],  # pred [1] is 产出指标 = gold [0]
    )
    report = score([gold], [pred])
    # 43 + 2 × 3 = 49 fields; one wrong (产出 score 45 vs 48), flagged via the level1 match
    assert report.fields.scored == 49
    assert report.fields.correct == 48
    assert report.fields.flagged_wrong == 1 and report.fields.silent == 0
    assert report.errors[0].path == "category_scores[0].score"


def test_missing_tables_are_silent_and_extra_tables_cost_precision() -> None:
    g1 = gold_record(start=10, end=50)
    g2 = gold_record(
        start=60, end=100, indicators=[indicator(A)], category_scores=[CategoryScore(level1="产出指标", weight=50, score=50)]
    )
    p1 = as_prediction(g1).model_copy(update={"source": Source(doc="a.txt", start_line=12, end_line=48)})  # IoU 37/41
    p2 = pred_record(start=90, end=140, flags=[["indicators"]])  # overlaps g2 by 11 of 81 lines: IoU 0.14, no match
    p_other = pred_record(doc="b.txt")  # a document without gold: ignored
    report = score([g1, g2], [p1, p2, p_other])
    assert report.detection.gold_tables == 2 and report.detection.pred_tables == 2
    assert report.detection.recall == 0.5 and report.detection.precision == 0.5
    assert report.ignored_pred_docs == ["b.txt"]
    assert [(t.start_line, t.end_line) for t in report.missing_tables] == [(60, 100)]
    assert [(t.start_line, t.end_line) for t in report.extra_tables] == [(90, 140)]
    # g1: 43 right. g2 missing: 43 + 9 + 3 = 55 fields, all wrong and silent (p2's flag does not count)
    assert report.fields.scored == 98
    assert report.fields.correct == 43
    assert report.fields.silent == 55
    # a missing table's fields are counted, not listed one by one
    assert report.errors_total == 0 and report.errors == []
    by_doc = {group.name: group for group in report.by_doc}
    assert by_doc["a.txt"].detection.matched == 1 and "b.txt" not in by_doc


def test_uncertain_paths_and_their_children_are_not_scored() -> None:
    gold = gold_record(
        funds=Funds(executed=FundLine(total=6.43)),
        indicators=[indicator(A, actual="≥30批次")],
        uncertain=["funds.executed", "indicators[0].actual"],
    )
    pred = pred_record(funds=Funds(executed=FundLine(total=5)), indicators=[indicator(A, actual="20")])
    report = score([gold], [pred])
    # 43 - 5 (funds.executed.*) + 9 - 1 (indicators[0].actual) = 46 fields, all right
    assert report.fields.scored == 46
    assert report.fields.correct == 46
    assert report.uncertain_skipped == 6


def test_texts_count_as_right_at_similarity_0_9_and_are_reported_apart() -> None:
    gold = gold_record(
        narrative=Narrative(conclusion="本项目自评96分，等级为优。"),
        goals={"output": "每年进行救助家庭核对系统维护"},
    )
    pred = pred_record(
        narrative=Narrative(conclusion="本项目自评96分,等级为良。", problems="多出的文字"),
        goals={"output": "系统维护"},
    )
    report = score([gold], [pred])
    # conclusion: 1 - 2/28 = 0.929 → right; goals.output: LCS 4 of 14 + 4 → 1 - 10/18 = 0.444 → wrong;
    # narrative.problems: gold null, pred text → 0 → wrong. 43 fields, 41 right.
    assert report.fields.correct == 41
    texts = {text.field: text for text in report.texts}
    assert set(texts) == {"narrative.conclusion", "narrative.problems", "goals.output"}  # both-null texts are left out
    assert texts["narrative.conclusion"].at_threshold == 1
    assert texts["goals.output"].mean_similarity == pytest.approx(1 - 10 / 18)
    assert texts["narrative.problems"].mean_similarity == 0.0


def test_error_lines_come_from_evidence_else_the_table_line() -> None:
    gold = gold_record(start=517, end=567, total_score=96, grade="优")
    pred = pred_record(
        start=515, end=566, total_score=69, grade="中", evidence={"total_score": {"line": 554, "text": "总分\t69"}}
    )
    report = score([gold], [pred])
    lines = {error.path: error.line for error in report.errors}
    assert lines == {"total_score": 554, "grade": 515}


# --------------------------------------------------------------------------------------
# loading


def test_loaders_name_the_file_and_line_of_a_bad_line(tmp_path: Path) -> None:
    good = gold_record().model_dump_json()
    gold_dir = tmp_path / "gold"
    gold_dir.mkdir()
    (gold_dir / "a.jsonl").write_text(good + "\n\n" + '{"template": "city-project"}\n', encoding="utf-8")
    with pytest.raises(EvalInputError, match=r"a\.jsonl:3: not a gold record: source"):
        load_gold(gold_dir)
    (gold_dir / "a.jsonl").write_text(good + "\n{oops\n", encoding="utf-8")
    with pytest.raises(EvalInputError, match=r"a\.jsonl:2: not valid JSON"):
        load_gold(gold_dir)
    bad_path = gold_record(uncertain=["indicators[x"]).model_dump_json()
    (gold_dir / "a.jsonl").write_text(bad_path + "\n", encoding="utf-8")
    with pytest.raises(EvalInputError, match=r"a\.jsonl:1: uncertain"):
        load_gold(gold_dir)
    (gold_dir / "a.jsonl").write_text(good + "\n", encoding="utf-8")
    (gold_dir / "b.jsonl").write_text(gold_record(start=12, end=50).model_dump_json() + "\n", encoding="utf-8")
    with pytest.raises(EvalInputError, match=r"b\.jsonl:1: same table as .*a\.jsonl:1"):
        load_gold(gold_dir)
    (gold_dir / "a.jsonl").unlink()
    (gold_dir / "b.jsonl").unlink()
    with pytest.raises(EvalInputError, match="no gold files"):
        load_gold(gold_dir)


def test_predictions_keep_error_entries_apart(tmp_path: Path) -> None:
    path = tmp_path / "pred.jsonl"
    error = ErrorEntry(doc="a.txt", start_line=3, stage="extract", message="no grid")
    path.write_text(pred_record().model_dump_json() + "\n" + error.model_dump_json() + "\n", encoding="utf-8")
    records, errors = load_predictions(path)
    assert len(records) == 1 and errors == [error]


# --------------------------------------------------------------------------------------
# HTML and CLI


def test_html_report_escapes_document_text_and_is_self_contained() -> None:
    gold = gold_record(title="<script>alert(1)</script>表", total_score=96)
    pred = pred_record(title="<img src=x onerror=alert(1)>", total_score=96)
    report = score([gold], [pred])
    report.noise = NoiseCurve(
        seed=0,
        backend="rules",
        docs=["a.txt"],
        points=[NoisePoint(rate=0, accuracy=1, silent_error_rate=0, f1=1, detection_recall=1, detection_precision=1, scored=43),
                NoisePoint(rate=0.1, accuracy=0.8, silent_error_rate=0.1, f1=0.8, detection_recall=1, detection_precision=1, scored=43)],
    )
    page = render_html(report)
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;表" in page
    assert "<svg" in page and "<polyline" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """test root"""

    cli_eval.register(app)
    return app


def test_cli_scores_a_prediction_file_as_json(tmp_path: Path) -> None:
    gold = gold_record(total_score=96, eval_year=2024)
    (tmp_path / "gold").mkdir()
    (tmp_path / "gold" / "a.jsonl").write_text(gold.model_dump_json() + "\n", encoding="utf-8")
    (tmp_path / "pred.jsonl").write_text(as_prediction(gold, eval_year=2025).model_dump_json() + "\n", encoding="utf-8")
    html = tmp_path / "report.html"
    result = CliRunner().invoke(
        _app(), ["eval", "--gold", str(tmp_path / "gold"), "--pred", str(tmp_path / "pred.jsonl"), "--json", "--html", str(html)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["fields"]["scored"] == 43 and data["fields"]["silent"] == 1
    assert html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_cli_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "gold.jsonl").write_text(gold_record().model_dump_json() + "\n", encoding="utf-8")
    (tmp_path / "pred.jsonl").write_text("not json\n", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(_app(), ["eval", "--gold", str(tmp_path / "gold.jsonl"), "--pred", str(tmp_path / "pred.jsonl")])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'pred.jsonl'}:1: not valid JSON (Expecting value at column 1)"]
    both = runner.invoke(_app(), ["eval", "--gold", str(tmp_path / "gold.jsonl"), "--pred", "p", "--docs", "d"])
    assert both.exit_code == 2 and "either --pred or --docs" in both.stderr
    noise = runner.invoke(_app(), ["eval", "--gold", str(tmp_path / "gold.jsonl"), "--pred", "p", "--noise", "0,0.1"])
    assert noise.exit_code == 2 and "--noise needs --docs" in noise.stderr


def test_cli_extracts_documents_with_the_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The --docs form hands the files to extract.pipeline.extract_paths (faked here) and scores what comes back."""
    gold = gold_record(doc="a.txt", total_score=96)
    (tmp_path / "gold.jsonl").write_text(gold.model_dump_json() + "\n", encoding="utf-8")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("text\n", encoding="utf-8")
    seen: list[tuple[list[str], str]] = []

    class FakePipeline:
        @staticmethod
        def extract_paths(paths: list[Path], backend: str = "rules") -> list[Record | ErrorEntry]:
            seen.append(([path.name for path in paths], backend))
            return [as_prediction(gold, total_score=69)]

    import extract

    monkeypatch.setattr(extract, "pipeline", FakePipeline, raising=False)
    monkeypatch.setitem(__import__("sys").modules, "extract.pipeline", FakePipeline)
    result = CliRunner().invoke(_app(), ["eval", "--gold", str(tmp_path / "gold.jsonl"), "--docs", str(docs), "--json"])
    assert result.exit_code == 0, result.output
    assert seen == [(["a.txt"], "rules")]
    data = json.loads(result.stdout)
    assert data["fields"]["correct"] == 42 and data["errors"][0]["path"] == "total_score"
