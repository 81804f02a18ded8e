"""Hybrid: which tables go to the LLM, and how the two readings of a table are reconciled field by field."""

from __future__ import annotations

import pytest

from extract.hybrid import (
    DISAGREEMENT_RULE,
    align,
    indicator_similarity,
    merged_order,
    needs_llm,
    reconcile,
)
from extract.llm.grounding import TableIndex
from extract.llm.prompting import TableLine, TableText, render_prompt
from schemas.record import Evidence, Flag, Record

TABLE = TableText("t.txt", 1, 9, "city-project", "阳泉市项目支出绩效自评表", (
    TableLine(1, ("阳泉市项目支出绩效自评表",)),
    TableLine(2, ("项目名称", "", "养老服务补贴")),
    TableLine(3, ("项目负责人", "张建平", "联系电话", "2298168")),
    TableLine(4, ("项目预算金额（万元）", "8", "实际到位金额（万元）", "8", "实际执行金额（万元）", "6.43")),
    TableLine(5, ("项目执行情况（10分）", "预算执行率80.38%，自评得分为8分")),
    TableLine(6, ("产出指标（50分）", "数量指标", "指标1", "补贴发放人数", "≥30人", "≥31人")),
    TableLine(7, ("", "质量指标", "指标1", "发放准确率", "100%", "100%")),
    TableLine(8, ("", "时效指标", "指标1", "发放及时率", "≥95%", "98%")),
    TableLine(9, ("备注", "8.5")),
))
INDEX = TableIndex(TABLE)
PROMPT = render_prompt(TABLE)


def _indicator(level2: str, name: str, target: str, actual: str) -> dict:
    return {"level1": "产出指标", "level2": level2, "name": name, "target": target, "actual": actual}


ROWS = [_indicator("数量指标", "补贴发放人数", "≥30人", "≥31人"), _indicator("质量指标", "发放准确率", "100%", "100%"),
        _indicator("时效指标", "发放及时率", "≥95%", "98%")]


def _record(backend: str = "rules", **changes: object) -> Record:
    data = {"source": {"doc": "t.txt", "start_line": 1, "end_line": 9}, "template": "city-project",
            "title": "阳泉市项目支出绩效自评表", "project_name": "养老服务补贴", "project_lead": "张建平",
            "phone": "2298168",
            "funds": {"planned": {"total": 8}, "received": {"total": 8}, "executed": {"total": 6.43}},
            "execution_rate": 80.38, "execution_score": 8, "indicators": [dict(row) for row in ROWS],
            "extractor": {"backend": backend, "version": "0.1.0"}}
    data.update(changes)
    return Record.model_validate(data)


def _flags_on(record: Record, path: str) -> list[Flag]:
    return [flag for flag in record.flags if path in flag.fields]


def test_agreement_is_confident_and_resolves_the_rules_doubt() -> None:
    rules = _record()
    rules.flags.append(Flag(rule="extract-uncertain", severity="warning", fields=["execution_rate"], message="?"))
    rules.evidence["execution_rate"] = Evidence(line=5, text="预算执行率80.38%")
    merged = reconcile(rules, _record("llm"), INDEX, PROMPT, "m")
    assert merged.execution_rate == 80.38 and not merged.flags
    assert merged.evidence["execution_rate"].line == 5
    assert merged.extractor.backend == "hybrid" and merged.extractor.prompt_version == PROMPT.version


def test_a_value_only_the_llm_read_is_taken_when_printed() -> None:
    merged = reconcile(_record(project_lead=None), _record("llm"), INDEX, PROMPT, "m")
    assert merged.project_lead == "张建平" and merged.evidence["project_lead"].line == 3
    assert not merged.flags


def test_an_unprinted_llm_value_is_not_taken() -> None:
    merged = reconcile(_record(total_score=None), _record("llm", total_score=97), INDEX, PROMPT, "m")
    assert merged.total_score is None and not merged.flags


def test_a_value_the_llm_says_is_absent_is_kept_and_flagged() -> None:
    merged = reconcile(_record(), _record("llm", phone=None), INDEX, PROMPT, "m")
    assert merged.phone == "2298168" and _flags_on(merged, "phone")[0].rule == DISAGREEMENT_RULE


def test_the_reading_printed_in_the_table_wins() -> None:
    merged = reconcile(_record(), _record("llm", execution_score=9), INDEX, PROMPT, "m")
    assert merged.execution_score == 8 and not merged.flags


def test_the_reading_that_keeps_the_numeric_rules_wins() -> None:
    """Both 8 and 6.43 are printed; only 6.43 makes 6.43 / 8 = 80.38 % hold."""
    rules = _record(funds={"planned": {"total": 8}, "received": {"total": 8}, "executed": {"total": 8}})
    merged = reconcile(rules, _record("llm"), INDEX, PROMPT, "m")
    assert merged.funds.executed.total == 6.43 and not merged.flags
    assert merged.evidence["funds.executed.total"].line == 4


def test_two_printed_consistent_readings_flag_both() -> None:
    merged = reconcile(_record(), _record("llm", indicators=[ROWS[0], ROWS[1], {**ROWS[2], "actual": "100%"}]),
                       INDEX, PROMPT, "m")
    flags = _flags_on(merged, "indicators[2].actual")
    assert merged.indicators[2].actual == "98%"
    assert flags and flags[0].values == {"rules": "98%", "llm": "100%"}


def test_rows_only_one_side_read_are_kept_flagged_and_flags_follow_their_rows() -> None:
    rules = _record(indicators=[ROWS[0], ROWS[2]])
    rules.flags.append(Flag(rule="extract-uncertain", severity="warning", fields=["indicators[1].target"],
                            message="shifted"))
    llm = _record("llm", indicators=[ROWS[0], ROWS[1], {**ROWS[2], "target": "≥96%"}])
    merged = reconcile(rules, llm, INDEX, PROMPT, "m")
    assert [i.name for i in merged.indicators] == ["补贴发放人数", "发放准确率", "发放及时率"]
    assert _flags_on(merged, "indicators[1]")[0].message.startswith("发放准确率: only the LLM")
    doubts = _flags_on(merged, "indicators[2].target")
    assert [f.rule for f in doubts] == ["extract-uncertain", DISAGREEMENT_RULE], \
        "the rules' doubt moved with its row and stays; the LLM's close unprinted wording is flagged too"
    assert merged.indicators[2].target == "≥95%"


def test_a_row_the_llm_invented_is_dropped() -> None:
    llm = _record("llm", indicators=[*ROWS, _indicator("数量指标", "慰问老人户数", "≥100户", "120户")])
    merged = reconcile(_record(), llm, INDEX, PROMPT, "m")
    assert len(merged.indicators) == 3 and not merged.flags


def test_rows_pair_by_name_in_order() -> None:
    left = [{"name": "补贴发放人数"}, {"name": "发放准确率"}, {"name": "发放及时率"}]
    right = [{"name": "补贴发放人数"}, {"name": "发放及时率"}]
    assert align(left, right, indicator_similarity) == [(0, 0), (2, 1)]
    assert merged_order(3, 2, [(0, 0), (2, 1)]) == [(0, 0), (1, None), (2, 1)]


@pytest.mark.parametrize("flag, routed", [
    (Flag(rule="extract-missing-value", severity="warning", fields=["phone"], message="m"), True),
    (Flag(rule="extract-extra-value", severity="warning", fields=["funds.declared"], message="m"), False),
    (Flag(rule="execution-rate", severity="error", fields=["execution_rate"], message="m"), True),
    (Flag(rule="indicator-shortfall", severity="warning", fields=["indicators[0].actual"], message="m"), False),
    (Flag(rule="grade-not-stated", severity="warning", fields=["grade"], message="m"), False),
])
def test_routing_follows_extractor_doubts_and_rule_errors(flag: Flag, routed: bool) -> None:
    record = _record()
    record.flags.append(flag)
    assert bool(needs_llm(record)) is routed
    assert needs_llm(_record()) == []
