"""The error classes the third blind set (eval/blind3) exposed, one test each, on its documents.

eval/blind3 was written like eval/blind and eval/blind2, by two annotators who never saw
the extractor (eval/blind3/README.md). Each test fails if its fix is taken out.
"""

from __future__ import annotations

from support.blind import EVAL, flagged, record_at

from extract.clean import Cell, Row, join_wrapped_rows
from extract.repair import clean_cell
from extract.values import percent_in
from schemas.record import Record

BLIND3 = EVAL / "blind3" / "docs"


def _record(name: str, line: int) -> Record:
    return record_at(BLIND3 / name, line)


def _row(line: int, raw: str) -> Row:
    cells = [Cell(clean_cell(text), line, col) for col, text in enumerate(raw.split("\t"))]
    while cells and not cells[-1].text:
        cells.pop()
    return Row(line=line, cells=cells, raw=raw)


def test_label_cut_by_a_line_break_inside_its_cell_is_rejoined() -> None:
    """c03-T2 (87–96): "项目负责" ends a line, "人\\t\\t王建军…" starts the next."""
    record = _record("c03_yuncheng_water.txt", 90)
    assert (record.project_lead, record.phone) == ("王建军", "0359-2683415")
    assert (record.period, record.eval_year) == ("2024.01.01-2024.12.31", 2024)
    assert (record.funds.planned.total, record.funds.received.total, record.funds.executed.total) == (500, 480, 462.35)


def test_wrapped_header_and_category_weights_are_rejoined() -> None:
    """c03-T2 (106–120): "未完成原因和改进 / 措施" made a phantom indicator 措施; "产出指标 / （50分）"."""
    record = _record("c03_yuncheng_water.txt", 90)
    assert record.indicators[0].name == "完成除险加固小型水库座数"
    assert [(score.level1, score.weight) for score in record.category_scores] == [
        ("产出指标", 50), ("效益指标", 30), ("满意度指标", 10)]


def test_label_tail_alone_on_the_next_line_goes_back_to_the_label() -> None:
    """c03-T2 (124–125): "自评结论及结\\t本项目…" then "果分析" alone."""
    record = _record("c03_yuncheng_water.txt", 90)
    assert record.narrative.conclusion.startswith("本项目自评98.63分，等级为优。")
    assert record.grade == "优"


def test_indicator_name_wrapped_before_its_values_is_rejoined() -> None:
    """c04-T1 (48–49): "…综合生产能力" then "提升\\t≥100斤\\t110斤"."""
    record = _record("c04_linfen_transfer.txt", 30)
    names = [indicator.name for indicator in record.indicators]
    assert "提升" not in names
    indicator = record.indicators[names.index("项目区亩均粮食综合生产能力提升")]
    assert (indicator.target, indicator.actual) == ("≥100斤", "110斤")


def test_rows_that_merely_follow_each_other_are_not_joined() -> None:
    """A name then 成员, a signature then 组长, a header then 绩效指标: separate rows stay separate."""
    rows = [_row(1, "评价人员\t组长\t姓名\t武建华"), _row(2, "成员\t姓名\t李明\t职称"),
            _row(3, "\t一级指标\t二级指标\t三级指标\t年度指标值\t全年完成值\t自评得分"),
            _row(4, "绩效指标\t产出指标（50分）\t数量指标\t指标1\t培训人数\t≥100人\t120人")]
    assert [row.line for row in join_wrapped_rows(rows, "city-project")] == [1, 2, 3, 4]


def test_province_funds_columns_follow_the_printed_header_order() -> None:
    """c04-T2 (65–67): 全年执行数 | 分值 | 执行率 | 得分 | 资金结（转）余 | 偏差原因."""
    record = _record("c04_linfen_transfer.txt", 70)
    assert (record.funds.planned.total, record.funds.executed.total, record.funds.balance) == (48, 45.38, 2.26)
    assert (record.execution_weight, record.execution_rate, record.execution_score) == (10, 94.54, 9.45)


def test_province_funds_header_without_a_balance_column() -> None:
    """c02-T2 (279–283): 全年预算数 | 全年执行数 | 分值 | 执行率 | 得分, no 资金结余."""
    record = _record("c02_changzhi_agri.txt", 280)
    assert (record.funds.declared, record.funds.initial) == (85, 85)
    assert (record.funds.planned.total, record.funds.executed.total, record.funds.balance) == (85, 81.6, None)
    assert (record.execution_weight, record.execution_rate, record.execution_score) == (10, 96, 9.6)


def test_latex_slanted_comparisons() -> None:
    """c01-T1 (334): "$\\geqslant 95 \\%$" is ≥95%."""
    assert clean_cell(r"$\geqslant 95 \%$") == "≥95%"
    assert clean_cell(r"$\leqslant 15$个工作日") == "≤15个工作日"
    assert _record("c01_datong_culture.txt", 334).indicators[4].target == "≥95%"


def test_values_pushed_right_by_an_empty_cell() -> None:
    """c02-T3 (338): "指标2\\t学员培训档案建档率\\t\\t100%\\t100%": the target was lost, unflagged."""
    record = _record("c02_changzhi_agri.txt", 338)
    indicator = next(i for i in record.indicators if i.name == "学员培训档案建档率")
    assert (indicator.target, indicator.actual) == ("100%", "100%")
    assert flagged(record, f"indicators[{record.indicators.index(indicator)}].actual")


def test_full_width_percent_sign() -> None:
    """c02-T1 (244): "…×100%）为96.46％，得分9.65分"."""
    assert percent_in("预算执行率（实际执行金额/实际到位金额×100%）为96.46％，得分9.65分").value == 96.46
    assert _record("c02_changzhi_agri.txt", 244).execution_rate == 96.46


def test_department_printed_without_its_place_is_completed() -> None:
    """c03-T3 (147), c01-T2 (372): "市水务局" is the 运城市水务局 the header states."""
    assert _record("c03_yuncheng_water.txt", 147).department == "运城市水务局"
    assert _record("c01_datong_culture.txt", 372).department == "大同市文化和旅游局"


def test_a_bare_score_after_the_actual_is_not_read_as_the_actual() -> None:
    """"指标1\\t培训人数\\t\\t100%\\t48": the 48 is the block's score, so nothing shifts."""
    from extract.rules import _city_entry

    entry = _city_entry(_row(7, "\t\t数量指标\t指标1\t培训人数\t\t100%\t48"))
    assert (entry.indicator.target, entry.indicator.actual, entry.shifted) == (None, "100%", None)
