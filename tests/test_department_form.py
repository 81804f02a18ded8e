"""The department-overall form (部门整体支出绩效自评表), read as template ``other``.

No seed holds one (001 announces one in its part b, 001:610); the table here is
written from the standard form (部门（单位）名称, 年度主要任务, 年度部门整体支出预算执行情况,
年度总体目标, 年度绩效指标, 总分) with the seeds' kinds of OCR damage: a page-break
watermark pair inside the table, spaces inside labels, a fused "年度资金总额 5000".
"""

from __future__ import annotations

from extract.load import load_text
from extract.pipeline import extract_text
from extract.segment import segment
from schemas.record import Record

T = "\t"

TABLE = "\n".join([
    "附件3", "",
    "阳泉市部门（单位）整体支出绩效自评表", "",
    "（2024年度）", "",
    T.join(["部 门（单位）名称", "阳泉市民政局", ""]),
    T.join(["年度主要任务", "任务名称", "", "主要内容"]),
    T.join(["", "社会救助", "", "保障困难群众基本生活"]),
    T.join(["", "养老服务", "", "推进居家和社区养老服务"]),
    T.join(["年度部门整体支出预算执行情况（万元）", "", "年初预算数", "全年预算数", "全年执行数", "分值", "执行率", "得分"]),
    T.join(["", "年度资金总额 5000", "5200", "5100", "10", "98.08%", "9.8"]),
    T.join(["", "其中：财政拨款", "4800", "5000", "4900", "—", "—", "—"]),
    "", "仅供内部审核", "", "仅供内部审核", "",
    T.join(["年度总体目标", "预期目标", "", "", "实际完成情况"]),
    T.join(["", "保障困难群众基本生活，推进养老服务体系建设。", "", "", "困难群众基本生活得到保障，养老服务体系逐步完善。"]),
    T.join(["年度绩效指标", "一级指标", "二级指标", "三级指标", "年度指标值", "实际完成值", "分值", "得分", "偏差原因分析及改进措施"]),
    T.join(["", "产出指标", "数量指标", "低保对象人数", "≥20000人", "21000人", "20", "20", ""]),
    T.join(["", "", "质量指标", "救助资金发放准确率", "100%", "100%", "20", "20", ""]),
    T.join(["", "", "时效指标", "资金按月发放", "按月", "按月", "10", "9", "个别月份延迟"]),
    T.join(["", "效益指标", "社会效益指标", "困难群众生活水平", "稳步提高", "稳步提高", "30", "30", ""]),
    T.join(["", "满意度指标", "服务对象满意度指标", "救助对象满意度", "≥90%", "95%", "10", "10", ""]),
    T.join(["总分", "", "", "", "", "", "100", "98.8", "优"]),
    "",
]) + "\n"


def _record() -> Record:
    results = extract_text(TABLE, "dept.txt")
    records = [result for result in results if isinstance(result, Record)]
    assert len(records) == 1, results
    return records[0]


def test_department_table_is_found_and_classified_other() -> None:
    spans = segment(load_text(TABLE, "dept.txt"))
    assert [(span.template, span.title) for span in spans] == [("other", "阳泉市部门（单位）整体支出绩效自评表")]


def test_department_header_funds_and_goals() -> None:
    record = _record()
    assert (record.department, record.eval_year, record.project_name) == ("阳泉市民政局", 2024, None)
    assert (record.funds.initial, record.funds.planned.total, record.funds.executed.total) == (5000, 5200, 5100)
    assert (record.execution_weight, record.execution_rate, record.execution_score) == (10, 98.08, 9.8)
    assert record.goals.annual == "保障困难群众基本生活，推进养老服务体系建设。"
    assert record.goals.achieved == "困难群众基本生活得到保障，养老服务体系逐步完善。"


def test_department_indicators_scores_and_total() -> None:
    record = _record()
    assert [(i.level1, i.level2, i.name, i.target, i.actual, i.weight, i.score) for i in record.indicators[:1]] == [
        ("产出指标", "数量指标", "低保对象人数", "≥20000人", "21000人", 20, 20)]
    assert record.indicators[2].note == "个别月份延迟" and record.indicators[2].adjusted_target is None
    assert [(c.level1, c.weight, c.score) for c in record.category_scores] == [
        ("产出指标", 50, 49), ("效益指标", 30, 30), ("满意度指标", 10, 10)]
    assert (record.total_score, record.grade) == (98.8, "优")
    assert not [flag for flag in record.flags if flag.rule.startswith("extract-missing")], record.flags


def test_a_narrative_mention_of_the_department_table_is_no_table() -> None:
    """001:610 "附件：阳泉市民政局2024年度部门整体和项目绩效自评表" announces tables; it is none."""
    text = "附件：阳泉市民政局2024年度部门整体和项目绩效自评表\n\n2、其他需要说明的事项\n"
    assert segment(load_text(text, "x.txt")) == []


def test_department_scores_are_verified() -> None:
    """The numeric rules of scored forms run on the department form: a 总分 that is not
    得分 + Σ indicator scores is flagged; the consistent table gets no rule error."""
    assert not [flag for flag in _record().flags if flag.severity == "error"]
    broken = TABLE.replace(T.join(["总分", "", "", "", "", "", "100", "98.8", "优"]),
                           T.join(["总分", "", "", "", "", "", "100", "95", "优"]))
    record = next(result for result in extract_text(broken, "dept.txt") if isinstance(result, Record))
    assert any(flag.rule == "total-score" for flag in record.flags)
