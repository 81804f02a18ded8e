"""The response model: derived from the record models, strict, with checks that make instructor re-ask."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from extract.llm.grounding import TableIndex
from extract.llm.prompting import TableLine, TableText
from extract.llm.response import CHECK_KEY, AnswerCheck, TableAnswer, answer_json
from schemas.record import TableContent

TABLE = TableText("t.txt", 1, 6, "city-project", "阳泉市项目支出绩效自评表", (
    TableLine(1, ("阳泉市项目支出绩效自评表",)),
    TableLine(2, ("项目名称", "", "养老服务补贴")),
    TableLine(3, ("项目预算金额（万元）", "8", "实际到位金额（万元）", "8", "实际执行金额（万元）", "6.43")),
    TableLine(4, ("项目执行情况（10分）", "预算执行率80.38%，自评得分为8分")),
    TableLine(5, ("产出指标（50分）", "数量指标", "指标1", "补贴发放人数", "≥30人", "≥31人")),
    TableLine(6, ("总分", "96")),
))


def _answer(**changes: object) -> dict:
    answer = {"title": "阳泉市项目支出绩效自评表", "project_name": "养老服务补贴",
              "funds": {"planned": {"total": 8}, "received": {"total": 8}, "executed": {"total": 6.43}},
              "execution_rate": 80.38, "execution_score": 8,
              "indicators": [{"level1": "产出指标", "level2": "数量指标", "name": "补贴发放人数",
                              "target": "≥30人", "actual": "≥31人"}]}
    answer.update(changes)
    return answer


def _check() -> AnswerCheck:
    return AnswerCheck(TABLE, TableIndex(TABLE))


def test_the_answer_model_is_the_record_content_minus_what_is_known_before_asking() -> None:
    expected = set(TableContent.model_fields) - {"format_version", "source", "template"}
    assert set(TableAnswer.model_fields) == expected
    with pytest.raises(ValidationError):
        TableAnswer.model_validate({"project_name": "x", "confidence": 0.9})


def test_without_a_check_in_the_context_nothing_but_the_schema_is_validated() -> None:
    answer = TableAnswer.model_validate(_answer(total_score=55))
    assert answer.total_score == 55


def test_a_consistent_printed_answer_passes() -> None:
    TableAnswer.model_validate(_answer(total_score=96), context={CHECK_KEY: _check()})


def test_an_invented_number_is_sent_back_naming_its_field() -> None:
    with pytest.raises(ValidationError) as raised:
        TableAnswer.model_validate(_answer(total_score=97), context={CHECK_KEY: _check()})
    assert "`total_score`" in str(raised.value) and "not printed" in str(raised.value)


def test_a_problem_is_raised_once_then_the_same_value_is_accepted() -> None:
    check = _check()
    context = {CHECK_KEY: check}
    with pytest.raises(ValidationError):
        TableAnswer.model_validate(_answer(total_score=97), context=context)
    accepted = TableAnswer.model_validate(_answer(total_score=97), context=context)
    assert accepted.total_score == 97
    with pytest.raises(ValidationError):
        TableAnswer.model_validate(_answer(total_score=98), context=context), "a new value is a new problem"


def test_canonical_categories_and_their_pairing_are_checked() -> None:
    bad_name = _answer(indicators=[{"level1": "产出指标", "level2": "数量", "name": "补贴发放人数"}])
    with pytest.raises(ValidationError, match="not a canonical name"):
        TableAnswer.model_validate(bad_name, context={CHECK_KEY: _check()})
    mismatched = _answer(indicators=[{"level1": "效益指标", "level2": "数量指标", "name": "补贴发放人数"}])
    with pytest.raises(ValidationError, match="do not belong together"):
        TableAnswer.model_validate(mismatched, context={CHECK_KEY: _check()})


def test_numeric_rules_of_the_form_are_checked() -> None:
    with pytest.raises(ValidationError, match="execution-rate"):
        TableAnswer.model_validate(_answer(funds={"planned": {"total": 8}, "received": {"total": 8},
                                                  "executed": {"total": 8}}), context={CHECK_KEY: _check()})


@pytest.mark.parametrize("reply", [
    '{"project_name": "养老服务补贴"}',
    '<think>I should read line 2 first. {not json}</think>\n{"project_name": "养老服务补贴"}',
    'Here it is:\n```json\n{"project_name": "养老服务补贴"}\n```\nDone.',
    '<think>\nreasoning\n</think>\n```json\n{"project_name": "养老服务补贴"}\n```',
])
def test_replies_of_reasoning_models_and_fenced_blocks_parse(reply: str) -> None:
    assert answer_json(reply) == '{"project_name": "养老服务补贴"}'
    assert TableAnswer.model_validate_json(reply).project_name == "养老服务补贴"
