"""Label and category matching against schemas/vocab, with the variants listed in seed-notes §5.

Each variant is given as printed (after the cell repairs), with the seed line it
comes from. A strong match is taken silently; a weak one must say so
(``Match.weak``) so the extractor can flag it; an invented label must not be
forced onto a canonical name.
"""

from __future__ import annotations

import pytest

from extract.match import (
    STRONG,
    best_name,
    canonical_level1,
    canonical_level2,
    level1_of,
    match_label,
    normalise,
    strip_weight,
)
from extract.repair import clean_cell


def label(printed: str, template: str) -> tuple[str, str] | None:
    found = match_label(clean_cell(printed), template)
    return (found.canonical, found.remainder) if found else None


def test_normalise_drops_spaces_and_punctuation_and_folds_width() -> None:
    assert normalise("（ 50分 ）：项目 名称") == "(50分)项目名称"
    assert normalise("绩效自\t评评价年度") == "绩效自评评价年度"
    assert normalise("项目名称") == "项目名称"


# ---------------------------------------------------------------------------------------------
# City form labels (§5.1)


@pytest.mark.parametrize(
    ("printed", "key"),
    [
        ("填报日期：", "fill_date"),
        ("填表日期", "fill_date"),            # 001:1219
        ("填制日期", "fill_date"),            # 001:1449
        ("填报日期: ", "fill_date"),
        ("项目负责人", "project_lead"),
        ("负责人", "project_lead"),           # 001:889
        ("项目目负责人", "project_lead"),     # 003:658, overlapping OCR boxes joined
        ("联系电话", "phone"),
        ("联\t系电话", "phone"),              # 003:740
        ("主管部门", "department"),
        ("主\t管部门", "department"),         # 003:659
        ("实施单位", "implementing_unit"),
        ("实\t施单位", "implementing_unit"),  # 003:741
        ("项目起止时间", "period"),
        ("项目支出时间", "period"),           # 001:891
        ("项目完工时间", "period"),           # 001:1008
        ("预算起止时间", "period"),           # 001:1068
        ("项目截止时间", "period"),           # 001:2107
        ("绩效自评（评价）年度", "eval_year"),
        ("绩效自评评价年度", "eval_year"),    # 000:526
        ("绩效自评年度", "eval_year"),        # 001:646
        ("绩效自评价年度", "eval_year"),      # 001:1008
        ("绩效目标评价年度", "eval_year"),    # 001:758
        ("绩效评价年度", "eval_year"),        # 001:891
        ("绩效自评评估年度", "eval_year"),    # 001:1387
        ("绩效自\t评评价年度", "eval_year"),  # 003:660
        ("项目预算金额（万元）", "funds_planned"),
        ("项目预算金额 (万元)", "funds_planned"),
        ("3预算金额 (万元)", "funds_planned"),  # 003:661
        ("预算金额 万元)", "funds_planned"),    # 003:743
        ("实际到位金额（万元）", "funds_received"),
        ("实际执行金额（万元）", "funds_executed"),
        ("其中：中央、省财政", "line_central_provincial"),
        ("其中: 中央、省财政", "line_central_provincial"),
        ("市财政", "line_city"),
        ("市级财政", "line_city"),            # 001:825
        ("县（区）财政", "line_county"),
        ("区(县)财政", "line_county"),        # 001:1072
        ("其它", "line_other"),
        ("其他", "line_other"),               # 001:763
        ("其他：", "line_other"),             # 001:827
        ("项目预期绩效目标", "goals"),
        ("项目提供的公共产品和服务的数量", "goal_output"),
        ("项目提供的公共产品和/or服务的数量", "goal_output"),  # 001:652
        ("项目提供的公共产品和数量", "goal_output"),           # 001:1531
        ("项目效果", "goal_effect"),
        ("项目结果", "goal_effect"),          # 001:897
        ("项目执行情况（10分）", "execution"),
        ("项目执行情况 (进度)", "execution"), # 001:830
        ("目执行情况 (10分)", "execution"),   # 003:669
        ("执行情况 (10分)", "execution"),     # 003:750
        ("总分", "total"),
        ("总 分", "total"),
        ("总计 分", "total"),                 # 001:1145
        ("自评结论及结果分析", "conclusion"),
        ("自评结论 及结果分析", "conclusion"),
        ("自评情况及结果分析", "conclusion"),  # 001:925
        ("自评结论及对策分析", "conclusion"),  # 001:1782
        ("自评结论 及效果分析", "conclusion"), # 001:1364
        ("自评估结论及结果分析", "conclusion"),  # 001:1497
        ("主要经验做法", "experience"),
        ("主要\t经验做法", "experience"),     # 003:713
        ("存在问题与整改措施", "problems"),
        ("存在问题及改进建议", "problems"),   # 001:794
        ("存在问题与改进建议", "problems"),   # 001:861
        ("存在的问题与整改举措", "problems"), # 001:927
        ("存在的问题与 整改措施", "problems"),  # 001:988
        ("评价人员", "evaluators"),
        ("评估人员", "evaluators"),           # 001:1893
        ("填报人：", "filler"),
        ("填表人", "filler"),                 # 001:1163
        ("执笔人", "filler"),                 # 001:801
    ],
)
def test_city_labels(printed: str, key: str) -> None:
    assert label(printed, "city-project") == (key, "")


@pytest.mark.parametrize(
    ("printed", "key", "remainder"),
    [
        ("实际执行金额（万元）6.43", "funds_executed", "6.43"),  # 000:527
        ("项目名称 访贫问寒专项经费", "project_name", "访贫问寒专项经费"),  # 001:1171
        ("填报日期：2025.4.14", "fill_date", "2025.4.14"),  # 000:521
    ],
)
def test_label_fused_with_its_value_leaves_the_value(printed: str, key: str, remainder: str) -> None:
    assert label(printed, "city-project") == (key, remainder)


@pytest.mark.parametrize("printed", ["实际到位金额（万元）", "实际执行金额（万元）", "项目预算金额（万元）"])
def test_the_three_money_labels_are_told_apart(printed: str) -> None:
    found = match_label(printed, "city-project")
    assert found is not None and found.score == 100


@pytest.mark.parametrize("printed", ["阳泉市民政局", "市低保中心单位运转办公、核对工作经费", "≥90%", "张建平", "2298168"])
def test_values_are_not_labels(printed: str) -> None:
    assert match_label(printed, "city-project") is None


def test_qi_ta_with_a_stray_character() -> None:
    found = match_label("其它人", "city-project")   # 003:665
    assert found is not None and found.canonical == "line_other"


def test_ying_ta_is_qi_ta() -> None:
    assert label("英它", "city-project") == ("line_other", "")


# ---------------------------------------------------------------------------------------------
# Province and goal forms (§5.2)


@pytest.mark.parametrize(
    ("printed", "key"),
    [
        ("主管部门及代码", "department"),
        ("预算单位", "implementing_unit"),
        ("项目资金预算安排及执行进度（万元）", "funds_section"),
        ("资金总额:", "funds_total_row"),
        ("项目年度绩效目标", "goals_section"),
        ("项目年度绩效", "goals_section"),   # 002:973
        ("年度目标", "goal_annual"),
        ("实际完成情况", "goal_achieved"),
        ("项目绩效分析", "analysis"),
        ("项目 绩效 分析", "analysis"),      # 002:814
        ("自评结果分析", "analysis_results"),
        ("项目实施和预算执行情况", "conclusion_part"),
        ("项目实施的预算执行情况及分析", "conclusion_part"),   # 002:617
        ("项目实施和预算执行情况分析及分析", "conclusion_part"),  # 002:545
        ("产出情况及分析", "conclusion_part"),
        ("满意度情况", "conclusion_part"),
        ("主要经验做法", "experience"),
        ("项目管理中存在的主要问题及原因分析", "problems"),
        ("项目管理中存在的问题及原因分析", "problems"),  # 002:654
        ("下一步改进措施及管理建议", "next_steps"),
    ],
)
def test_province_labels(printed: str, key: str) -> None:
    assert label(printed, "province-project") == (key, "")


@pytest.mark.parametrize(
    ("printed", "key"),
    [
        ("项目属性", "attribute"),
        ("项目期", "project_term"),
        ("实施期资金总额：", "funds_term_total"),
        ("共纳期资金总额：", "funds_term_total"),   # 002:901
        ("前期资金总额:", "funds_term_total"),     # 002:1036
        ("年度资金总额：", "funds_annual_total"),
        ("其中：中央财政资金", "line_central"),
        ("其中：中央财政拨款", "line_central"),
        ("省级财政资金", "line_provincial"),
        ("市县（区）财政资金", "line_city"),
        ("市、县（区）财政拨款", "line_city"),
        ("单位自筹", "line_self"),
        ("其他资金", "line_other"),
        ("执行率", "execution_rate"),
        ("实施期目标", "goals_term"),
        ("负责人:", "project_lead"),
        ("经办人:", "handler"),
        ("填报日期:", "fill_date"),
    ],
)
def test_goal_form_labels(printed: str, key: str) -> None:
    assert label(printed, "other") == (key, "")


def test_goal_form_label_fused_with_its_amount() -> None:
    assert label("实施期资金总额：64,200", "other") == ("funds_term_total", "64,200")   # 002:935
    assert label("其中：中央财政拨款 0", "other") == ("line_central", "0")              # 002:936


@pytest.mark.parametrize("printed", ["市市区财政资金", "市辖区财政资金"])   # 002:566, 800
def test_garbled_city_fund_line_matches_weakly(printed: str) -> None:
    found = match_label(printed, "other")
    assert found is not None and found.canonical == "line_city"
    assert found.weak and found.score < STRONG


@pytest.mark.parametrize(
    ("printed", "key"),
    [
        ("转移支付（项目）名称", "project_name"),
        ("转移支付(项目)名称", "project_name"),
        ("中央主管部门", "central_department"),
        ("地方主管部门", "department"),
        ("资金使用单位", "implementing_unit"),
        ("年度资金总额", "funds_total_row"),
        ("资金管理情况", "funds_management"),
        ("总体目标", "goal_annual"),
        ("全年实际完成情况", "goal_achieved"),
    ],
)
def test_transfer_payment_labels(printed: str, key: str) -> None:
    assert label(printed, "transfer-payment") == (key, "")


# ---------------------------------------------------------------------------------------------
# Indicator categories (§5.3)


@pytest.mark.parametrize(
    ("printed", "canonical"),
    [
        ("产出指标（50分）", "产出指标"),          # 000:537
        ("产出指标 (50分)", "产出指标"),
        ("产出指标 (60分)", "产出指标"),           # 001:1464
        ("绩效 产出指标 (50分)", "产出指标"),      # 001:1397
        ("效益指标 (30分)", "效益指标"),
        ("效益指标 (30)", "效益指标"),             # 001:1768
        ("效果指标30分", "效益指标"),              # 001:1427
        ("满意度指标 (10分)", "满意度指标"),
        ("满意度指 标 (10分)", "满意度指标"),
        ("满 意 度 指 标 (10分)", "满意度指标"),   # 001:729
        ("满意度指标 （10分）", "满意度指标"),
        ("満意度指", "满意度指标"),                # 003:707
        ("成本指标", "成本指标"),
        ("产出", "产出指标"),                      # province short form
    ],
)
def test_level1_variants(printed: str, canonical: str) -> None:
    found = canonical_level1(clean_cell(printed))
    assert found is not None and found.canonical == canonical and not found.weak


@pytest.mark.parametrize(
    ("printed", "canonical"),
    [
        ("指标 效益指标 (30分)", "效益指标"),      # 001:1480, tail of 绩效指标 fused
        ("指 标 效 益 指 标 (30分)", "效益指标"),  # 001:726
        ("产出指标 (60分) 绩效", "产出指标"),      # 001:1535
        ("社会效益指标 (30分)", "效益指标"),       # 001:675, a level2 printed as level1
    ],
)
def test_level1_fused_or_mislabelled_matches_weakly(printed: str, canonical: str) -> None:
    found = canonical_level1(clean_cell(printed))
    assert found is not None and found.canonical == canonical
    assert found.weak


@pytest.mark.parametrize(
    "printed",
    ["绩效指标 (50分)", "绩效 （50分）", "数量指标", "绩效目标 完成情况 (30分)", "基本指标 (30分)", "综合指标 (15分)",
     "评价指标 权重 (30分)", "生态类指标", "中央、省 市级 其他", "病息及損 标 (10分)"],
)
def test_level1_invented_or_unreadable_is_no_match(printed: str) -> None:
    assert canonical_level1(clean_cell(printed)) is None


@pytest.mark.parametrize(
    ("printed", "canonical"),
    [
        ("数量指标", "数量指标"),
        ("质量指标", "质量指标"),
        ("时效指标", "时效指标"),
        ("成本指标", "成本指标"),
        ("社会效益指标", "社会效益指标"),
        ("经济效益指标", "经济效益指标"),
        ("生态效益指标", "生态效益指标"),
        ("服务对象满意度指标", "服务对象满意度指标"),
        ("可持续性影响指标", "可持续影响指标"),    # spec: maps to 可持续影响指标
        ("社会效益", "社会效益指标"),              # province short forms
        ("经济效益", "经济效益指标"),
        ("生态效益", "生态效益指标"),
        ("可持续影响", "可持续影响指标"),
        ("服务对象满意度", "服务对象满意度指标"),
        ("可持续发展", "可持续影响指标"),          # 002:856
        ("经济效果指标", "经济效益指标"),          # 001:1994
        ("對效指标", "时效指标"),                  # 003:762
        ("成本控制 指标", "成本指标"),             # 001:769
        ("数量指标 (30分)", "数量指标"),           # 001:1610
        ("时效指标 (10分)", "时效指标"),           # 001:1188
        ("服务对象满意度 (10分)", "服务对象满意度指标"),
        ("服务对象满意度指标 (30分)", "服务对象满意度指标"),
        ("社会成本指标", "社会成本指标"),
        ("生态环境成本", "生态环境成本指标"),
    ],
)
def test_level2_variants(printed: str, canonical: str) -> None:
    found = canonical_level2(clean_cell(printed))
    assert found is not None and found.canonical == canonical and not found.weak


@pytest.mark.parametrize(
    "printed",
    ["综合评价指标", "普惠度指标", "普惠类指标", "社会舆情指标", "发放情况", "项目级", "经济类指标", "生态影响指标",
     "服务质量满意度指标", "公平性", "成本节约", "公众满意度", "普及程度指标", "带动就业影响指标", "指标项", "考核指标"],
)
def test_level2_invented_is_no_match(printed: str) -> None:
    """Invented level2 labels (seed-notes §5.3) map to nothing rather than to a guess."""
    assert canonical_level2(printed) is None


def test_level2_invented_but_close_is_weak() -> None:
    found = canonical_level2("社会效能指标")   # 001:1031
    assert found is not None and found.weak


@pytest.mark.parametrize(
    ("level2", "level1"),
    [("数量指标", "产出指标"), ("成本指标", "产出指标"), ("经济成本指标", "成本指标"), ("社会效益指标", "效益指标"),
     ("可持续影响指标", "效益指标"), ("服务对象满意度指标", "满意度指标")],
)
def test_level1_of_level2(level2: str, level1: str) -> None:
    assert level1_of(level2) == level1


@pytest.mark.parametrize(
    ("printed", "name", "weight"),
    [("产出指标（50分）", "产出指标", 50), ("效益指标 (30)", "效益指标", 30), ("满意度指标 （10分）", "满意度指标", 10),
     ("效果指标30分", "效果指标", 30), ("数量指标", "数量指标", None)],
)
def test_strip_weight(printed: str, name: str, weight: float | None) -> None:
    assert strip_weight(printed) == (name, weight)


# ---------------------------------------------------------------------------------------------
# Known names (§5.4)


def test_known_name_exact_and_misspelt() -> None:
    names = ["阳泉市老年颐养中心", "阳泉市民政局", "阳泉市社会福利院"]
    exact = best_name("阳泉市民政局", names)
    assert exact is not None and exact.canonical == "阳泉市民政局" and not exact.weak
    misspelt = best_name("阳泉市老华颐养中心", names)        # 001:1284
    assert misspelt is not None and misspelt.canonical == "阳泉市老年颐养中心" and misspelt.weak
    assert best_name("汾阳市社会保险中心", names) is None
    assert best_name("阳泉市民政局", []) is None


# ---------------------------------------------------------------------------------------------
# Labels named by their wording (``_signatures``): variants no seed printed


@pytest.mark.parametrize(("printed", "template", "key", "remainder"), [
    ("项目实施时间", "city-project", "period", ""),
    ("绩效考核评价年度", "city-project", "eval_year", ""),
    ("填写日期：2025.4.6", "city-project", "fill_date", "2025.4.6"),
    ("自评结论及整改分析", "city-project", "conclusion", ""),
    ("存在问题及下步打算", "city-project", "problems", ""),
    ("主管科室", "city-project", "department", ""),
    ("其中：中央补助资金 0", "other", "line_central", "0"),
    ("市（县）财政补助 64,200", "other", "line_city", "64,200"),
])
def test_unseen_label_is_named_by_its_wording(printed: str, template: str, key: str, remainder: str) -> None:
    found = match_label(printed, template)
    assert found is not None and (found.canonical, found.remainder) == (key, remainder)
    assert found.weak, "a label known only by its wording is a weak match"


@pytest.mark.parametrize("printed", ["2024年度绩效评价工作经费", "保障单位正常运转，提高工作效率，完成年度工作任务并做好各项服务",
                                     "项目单位"])
def test_wording_patterns_do_not_take_values(printed: str) -> None:
    assert match_label(printed, "city-project") is None


def test_wording_patterns_are_not_used_for_strict_matching() -> None:
    assert match_label("项目实施时间", "city-project", threshold=92) is None


def test_bracketed_note_after_a_label_is_not_its_value() -> None:
    """001:829 "项目执行情况 (进度)": the note belongs to the label; the value is the next cell."""
    found = match_label("项目执行情况 (进度)", "city-project")
    assert found is not None and found.canonical == "execution" and found.remainder == ""
    fused = match_label("项目预算金额 30.01", "city-project")
    assert fused is not None and fused.remainder == "30.01"


def test_garbled_conclusion_label_is_named_by_its_wording() -> None:
    """003-T1 (712): "评结论 告果分析" (自 lost, 结 read as 告)."""
    found = match_label("评结论 告果分析", "city-project")
    assert found is not None and found.canonical == "conclusion" and found.by_wording
