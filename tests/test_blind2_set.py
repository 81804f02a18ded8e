"""The error classes the second blind set (eval/blind2) exposed, one test each, on its documents.

eval/blind2 was written like eval/blind, by two more annotators who never saw the
extractor, with heavier damage (eval/blind2/README.md). Each test fails if its fix is
taken out.
"""

from __future__ import annotations

from support.blind import EVAL, flagged, record_at

from extract.load import html_cells_to_tabs
from extract.repair import clean_cell
from schemas.record import Record

BLIND2 = EVAL / "blind2" / "docs"


def _record(name: str, line: int) -> Record:
    """The record whose span holds ``line``."""
    return record_at(BLIND2 / name, line)


def test_html_table_rows_become_tab_separated_cells() -> None:
    """b02-C1 (102–131): rows emitted as <tr><td>…</td></tr>; three indicators were lost."""
    assert html_cells_to_tabs("<tr><td></td><td>质量指标</td><td>指标1</td></tr>") == "\t质量指标\t指标1"
    record = _record("b02_goal_forms.txt", 110)
    names = [indicator.name for indicator in record.indicators]
    assert {"新生儿遗传代谢病筛查率", "筛查结果反馈时间", "先天性疾病早诊早治率"} <= set(names)
    assert (record.project_lead, record.phone) == ("王丽萍", "0355-2026335")


def test_city_table_with_per_indicator_weights_and_scores() -> None:
    """b01-T3 (155–168): 分值 and 得分 columns per indicator, no subtotals printed."""
    record = _record("b01_taiyuan_health.txt", 160)
    assert [(i.weight, i.score) for i in record.indicators[:5]] == [(10, 10), (5, 5), (5, 5), (10, 10), (10, 8)]
    assert record.category_scores == [] and record.total_score == 98


def test_province_note_wrapped_onto_its_own_row() -> None:
    """b03-T3 (130–131): the 偏差原因 cell continues on a row holding only that text."""
    record = _record("b03_province_edu.txt", 130)
    assert record.indicators[5].note == ("培训成果转化跟踪机制尚不健全，下一步建立训后跟踪指导制度；"
                                         "课堂教学改进成效需在下一学年持续观察")
    assert all(indicator.name != "下一步建立训后跟踪指导制度" for indicator in record.indicators)


def test_province_indicator_row_after_the_total_row() -> None:
    """b03-T1 (49–50): a page break put the 满意度 row after 总分."""
    record = _record("b03_province_edu.txt", 30)
    assert record.indicators[-1].name == "受助学生及家长满意度"
    assert record.indicators[-1].level2 == "服务对象满意度指标"
    assert [c.level1 for c in record.category_scores] == ["产出指标", "效益指标", "满意度指标"]
    assert flagged(record, f"indicators[{len(record.indicators) - 1}].name")


def test_short_satisfaction_level2_is_the_only_one_the_form_has() -> None:
    """b03-T3 (133): "满意度指标 | 满意度 | 参训教师满意度" has level2 服务对象满意度指标."""
    assert _record("b03_province_edu.txt", 130).indicators[-1].level2 == "服务对象满意度指标"


def test_label_completed_by_the_next_cell() -> None:
    """b03-T2 (72) "主管部门 | 及代码 | 215-…", b04-T1 (25) "部门（单位） | 名称 | 祁县农业农村局"."""
    province = _record("b03_province_edu.txt", 72)
    assert (province.department_code, province.department) == ("215", "平遥县教育科技局")
    assert _record("b04_dept_transfer.txt", 25).department == "祁县农业农村局"


def test_funds_total_label_alone_with_its_amounts_below() -> None:
    """b03-T2 (75–76): "资金总额:" on its own line, the amounts on the next."""
    record = _record("b03_province_edu.txt", 75)
    assert (record.funds.planned.total, record.funds.executed.total, record.funds.balance) == (1185.6, 1152.38, 33.22)
    assert (record.execution_rate, record.execution_weight, record.execution_score) == (97.2, 10, 9.72)


def test_transfer_note_drops_the_forms_printed_instruction() -> None:
    """b04-T2 (102): the 说明 cell prints "请在此处简要说明…如没有请填无。" before the answer."""
    record = _record("b04_dept_transfer.txt", 80)
    assert record.narrative.conclusion == "本年度各级审计和财政监督检查中未发现该项资金存在问题。"


def test_glyphs_of_comparison_and_the_completed_ji() -> None:
    """b02-G1 (44) "≧80%"; b01-T1 (55) "己督促"; 己所不欲 stays."""
    assert clean_cell("≧80%") == "≥80%" and clean_cell("≦5天") == "≤5天"
    assert clean_cell("己督促县（区）加快拨付进度") == "已督促县（区）加快拨付进度"
    assert clean_cell("己所不欲") == "己所不欲"


def test_labels_named_by_unseen_wordings() -> None:
    """b01-T1 (33–34) 项目主管部门 / 项目实施单位; b01-T4 经验与做法."""
    first = _record("b01_taiyuan_health.txt", 35)
    assert first.department == first.implementing_unit == "太原市卫生健康委员会"
    assert _record("b01_taiyuan_health.txt", 200).narrative.experience.startswith("一是推进急救站点标准化建设")


def test_lead_and_phone_fused_in_one_cell() -> None:
    """b01-T2 (91): "项目负责人及电话 | 王建军  13903512468"."""
    record = _record("b01_taiyuan_health.txt", 91)
    assert (record.project_lead, record.phone) == ("王建军", "13903512468")


def test_city_row_out_of_block_order_is_put_back_when_the_labels_are_sound() -> None:
    """b01-T2 (121): the 成本指标 row printed after the 效益 rows goes back into the 产出 block."""
    record = _record("b01_taiyuan_health.txt", 121)
    levels = [indicator.level1 for indicator in record.indicators]
    assert levels == sorted(levels, key=["产出指标", "效益指标", "满意度指标"].index)
    position = next(i for i, indicator in enumerate(record.indicators) if indicator.name == "物资仓储管理费用")
    assert record.indicators[position - 1].level2 == "时效指标"
    assert flagged(record, f"indicators[{position}].name")
