"""The error classes the blind set (eval/blind) exposed, one test each, on its documents.

eval/blind holds four documents written from the record-format contract by
annotators who never saw the extractor (eval/blind/README.md). Its first run
found the classes below; each test fails if its fix is taken out.
"""

from __future__ import annotations

from support.blind import EVAL, flagged, record_at

from extract.values import read_number
from schemas.record import Record

BLIND = EVAL / "blind" / "docs"


def _record(name: str, line: int) -> Record:
    return record_at(BLIND / name, line)


def test_thousands_commas_with_decimals_are_read() -> None:
    """h03-T2 (87): "1,200.00", "1,086.50" were unreadable, so the whole 资金总额 row was lost."""
    assert read_number("1,200.00", money=True).value == 1200
    assert read_number("1,200.00", money=True).doubt is None
    record = _record("h03_province_county.txt", 81)
    assert (record.funds.declared, record.funds.planned.total, record.funds.executed.total) == (1200, 1086.5, 1062.37)


def test_header_repeated_after_a_page_break_is_no_indicator() -> None:
    """h03-T3 (137), h04-T1: "绩效指标 | 一级指标 | 二级指标 | …" printed again after a page break."""
    for name, start in (("h03_province_county.txt", 120), ("h04_transfer_payment.txt", 31)):
        assert all(indicator.name not in ("一级指标", "三级指标") for indicator in _record(name, start).indicators)


def test_goal_text_wrapped_over_two_rows_is_joined() -> None:
    """h04-T2 (85–86), h02-T1 (49–50): 总体目标 / 全年实际完成情况 each continue on the next row."""
    record = _record("h04_transfer_payment.txt", 71)
    assert record.goals.annual.endswith("按时足额发放扶助资金，保障计划生育家庭合法权益。")
    assert record.goals.achieved.endswith("足额发放扶助资金，扶助对象满意度96.5%。")


def test_note_joins_deviation_then_qualitative_text() -> None:
    """h02-T2 (96): 偏差原因分析及改进措施 first, then 定性指标情况说明, in the spec's order."""
    note = _record("h02_department_overall.txt", 80).indicators[1].note
    assert note == "调整后指标值已按追加数修订；年中因草地贪夜蛾发生偏重追加药剂6吨"


def test_rows_out_of_block_order_are_put_back_andflagged() -> None:
    """h03-T2 (102): the 满意度 row was read before the 效益 rows."""
    record = _record("h03_province_county.txt", 81)
    assert [indicator.level1 for indicator in record.indicators][-1] == "满意度指标"
    assert record.indicators[-1].name == "创业者满意度"
    assert flagged(record, f"indicators[{len(record.indicators) - 1}].name")


def test_funds_row_with_a_weight_column() -> None:
    """h03-T3 (125–127): the funds header prints 分值 between 执行率 and 得分."""
    record = _record("h03_province_county.txt", 120)
    assert (record.funds.planned.total, record.funds.executed.total, record.funds.balance) == (18, 17.46, 0.54)
    assert (record.execution_rate, record.execution_weight, record.execution_score) == (97, 10, 9.7)


def test_label_split_after_a_shorter_label() -> None:
    """h03-T2 (84): "主管部门及 | 代码" is 主管部门及代码, not 主管部门 with the value "及"."""
    record = _record("h03_province_county.txt", 81)
    assert (record.department_code, record.department) == ("407", "介休市人力资源和社会保障局")


def test_period_labelled_by_an_unseen_wording() -> None:
    """h01-T2 (103): 项目实施周期."""
    assert _record("h01_jinzhong_city.txt", 96).period == "2024.01.01—2024.12.31"


def test_narrative_wrapped_onto_the_next_row_is_joined() -> None:
    """h04-T2 (104–105): the 说明 text continues on the next row under the same column."""
    record = _record("h04_transfer_payment.txt", 71)
    assert record.narrative.conclusion.endswith("资格退出未支出，已按规定收回统筹使用。")
