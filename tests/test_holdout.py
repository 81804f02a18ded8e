"""Leave-one-out measurement (extract.holdout and ``jixiao eval --leave-one-out``)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from support.seeds import DOCS, GOLD, ROOT
from typer.testing import CliRunner

from extract import cli_eval
from extract.evaluate import load_gold
from extract.holdout import (
    leave_one_out,
    printed_variants,
    taught_only_by,
    vocabulary_without,
)
from extract.match import match_label, normalise
from extract.pipeline import extract_text

PRIOR = (ROOT / "docs" / "record-format.md").read_text(encoding="utf-8")


def test_a_variant_printed_by_one_document_only_is_what_it_taught() -> None:
    texts = {"a.txt": "主管领导\t阳泉市民政局\n填表日期：2025.4.6", "b.txt": "填表日期：2025.4.8"}
    hidden = taught_only_by("a.txt", texts, prior="")
    assert "主管领导" in hidden["labels"]
    assert "填表日期" not in hidden["labels"], "b prints it too"
    assert "主管领导" not in taught_only_by("a.txt", texts, prior="主管领导")["labels"], "the contract names it"
    assert taught_only_by("b.txt", texts, prior="")["labels"] == set()


def test_printed_variants_cover_both_vocabularies_without_keys_or_patterns() -> None:
    labels = printed_variants("labels")
    assert {"主管领导", "项目起止时间"} <= labels
    assert "project_name" not in labels and not any(variant.startswith("^") for variant in labels)
    assert "对效指标" in printed_variants("categories")


def test_hidden_variants_are_restored_after_the_block() -> None:
    assert match_label("主管领导", "city-project").score == 100
    with vocabulary_without({"labels": {normalise("主管领导")}}):
        inside = match_label("主管领导", "city-project")
        assert inside is not None and inside.score < 100, "only the wording pattern can name it now"
    assert match_label("主管领导", "city-project").score == 100


def test_held_out_figures_on_the_seeds() -> None:
    texts = {path.name: path.read_text(encoding="utf-8") for path in sorted(DOCS.glob("*.txt"))}
    gold = load_gold(GOLD)
    report, hidden = leave_one_out(texts, gold, lambda text, doc: extract_text(text, doc), prior=PRIOR, top_errors=5)
    assert report.detection.gold_tables == 46 and report.detection.matched == 46
    by_doc = {group.name: group for group in report.by_doc}
    assert set(by_doc) == set(texts)
    assert hidden[next(name for name in texts if name.startswith("000"))] == [], "000 prints nothing the others do not"
    assert len(hidden[next(name for name in texts if name.startswith("001"))]) > 10
    assert by_doc[next(n for n in texts if n.startswith("000"))].fields.f1 == 1.0
    assert report.fields.f1 is not None and report.fields.f1 > 0.95
    assert match_label("主管领导", "city-project").score == 100, "the full vocabulary is back"


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root"""

    cli_eval.register(app)
    return app


def test_cli_prints_both_sides(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for path in sorted(DOCS.glob("00[02]*.txt")):
        (docs / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    args = ["eval", "--gold", str(GOLD), "--docs", str(docs), "--leave-one-out", "--prior", str(ROOT / "docs" / "record-format.md")]
    result = CliRunner().invoke(_app(), [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    held_out = data["leave_one_out"]
    assert len(held_out["by_doc"]) == 2 and held_out["detection"]["matched"] == 18
    assert set(held_out["hidden_variants"]) == {path.name for path in docs.iterdir()}
    assert "flagged_share" in held_out["fields"]
    terminal = CliRunner().invoke(_app(), args, env={"COLUMNS": "200"})
    assert terminal.exit_code == 0 and "leave-one-out" in terminal.output


def test_cli_leave_one_out_needs_documents_and_a_prior(tmp_path: Path) -> None:
    runner = CliRunner()
    no_docs = runner.invoke(_app(), ["eval", "--gold", str(GOLD), "--pred", "p.jsonl", "--leave-one-out"])
    assert no_docs.exit_code == 2 and "--leave-one-out needs --docs" in no_docs.stderr
    missing = runner.invoke(_app(), ["eval", "--gold", str(GOLD), "--docs", str(DOCS), "--leave-one-out",
                                     "--prior", str(tmp_path / "none.md")])
    assert missing.exit_code == 2 and missing.stderr.count("\n") == 1 and "--prior" in missing.stderr
