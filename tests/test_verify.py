"""The numeric rules, each with a passing and a failing case read from the seed documents.

Records are built from values printed in eval/docs (line references in the comments),
not from extractor output, so a rule is tested against what the documents really say.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from extract.cli import app
from extract.verify import RULES, Subject, apply_verification, printed_numbers, rules_table, verify
from schemas.record import CategoryScore, Evidence, Flag, FundLine, Funds, Indicator, Narrative, Record, Source

CITY_DOC = "000_cc1de7d507d20929.txt"
T001 = "001_fe13dc1954f10c91.part-a.txt"
P002 = "002_df651f07c846b8e4.txt"


def city(**changes) -> Record:
    """000-T1 (000:517–566) as printed: funds 8/8/6.43, rate 80.38, score 8, 48/30/10, total 96 优."""
    record = Record(
        source=Source(doc=CITY_DOC, start_line=517, end_line=566),
        template="city-project",
        project_name="市低保中心单位运转办公、核对工作经费",
        period="2024.1.1—2024.12.31", eval_year=2024, fill_date=dt.date(2025, 4, 14),
        funds=Funds(planned=FundLine(total=8, city=8), received=FundLine(total=8, city=8),
                    executed=FundLine(total=6.43, city=6.43)),
        execution_rate=80.38, execution_score=8, execution_weight=10,
        indicators=[
            Indicator(level1="产出指标", level2="数量指标", name="每年核对社会救助申请家庭经济状况的批次",
                      target="≥30批次", actual="≥30批次"),
            Indicator(level1="产出指标", level2="质量指标", name="单位核对系统正常运转率", target="≥95%", actual="0"),
            Indicator(level1="效益指标", level2="社会效益指标", name="单位正常运转保障度",
                      target="提高", actual="提高"),
            Indicator(level1="满意度指标", level2="服务对象满意度指标", name="救助家庭满意度",
                      target="≥90%", actual="≥90%"),
        ],
        category_scores=[CategoryScore(level1="产出指标", weight=50, score=48),
                         CategoryScore(level1="效益指标", weight=30, score=30),
                         CategoryScore(level1="满意度指标", weight=10, score=10)],
        total_score=96, grade="优",
        narrative=Narrative(conclusion="本项目自评96分，等级为优。2024年由大数据局负责市级核对系统的建设、运维"),
    )
    return record.model_copy(update=changes)


def province(**changes) -> Record:
    """002-P2 (002:558–592): planned = executed 25.24, balance 0, rate 100, score 10, total 99 优."""
    indicators = [Indicator(level1="产出指标", level2="数量指标", name=f"参保人数村{i}", target="=个",
                            adjusted_target="=88个", actual="=88个", weight=4, score=4) for i in range(5)]
    indicators += [
        Indicator(level1="产出指标", level2="质量指标", name="代办员补贴金额到账率", target="=%",
                  adjusted_target="=100%", actual="=100%", weight=10, score=10),
        Indicator(level1="产出指标", level2="时效指标", name="年底完成任务发放工资及时性",
                  adjusted_target="及时性", note="部分达成预期指标并具有一定效果", weight=10, score=10),
        Indicator(level1="产出指标", level2="成本指标", name="代办员补贴金额", target="=元",
                  adjusted_target="=273400元", actual="=252400元", weight=10, score=9, note="本年缴费率完成较少。"),
        Indicator(level1="效益指标", level2="社会效益指标", name="城乡居民参保积极性", adjusted_target="有效提高",
                  note="达成预期指标", weight=30, score=30),
        Indicator(level1="满意度指标", level2="服务对象满意度指标", name="工作满意度", target="≥%",
                  adjusted_target="≥98%", actual="≥98%", weight=10, score=10),
    ]
    record = Record(
        source=Source(doc=P002, start_line=558, end_line=592), template="province-project",
        project_name="2024年城乡居民基本养老保险代办员补助", eval_year=2024,
        funds=Funds(planned=FundLine(total=25.24), executed=FundLine(total=25.24), declared=None, initial=27.34,
                    balance=0),
        execution_rate=100, execution_score=10, execution_weight=10, indicators=indicators,
        category_scores=[CategoryScore(level1="产出指标", weight=50, score=49),
                         CategoryScore(level1="效益指标", weight=30, score=30),
                         CategoryScore(level1="满意度指标", weight=10, score=10)],
        total_score=99, grade="优",
        narrative=Narrative(conclusion="2024年年底对我市各个村的城乡居民代办员的补助已全部发放到位,发放金额为252400元,"
                                       "预算执行率100%。"),
    )
    return record.model_copy(update=changes)


def rule_ids(record: Record, printed: dict[str, str] | None = None) -> list[str]:
    return [flag.rule for flag in verify(record, printed)]


def flags_of(record: Record, rule: str) -> list[Flag]:
    return [flag for flag in verify(record) if flag.rule == rule]


# ---------------------------------------------------------------------------------------------- baseline


def test_the_consistent_seed_tables_raise_no_error():
    assert [f for f in verify(city()) if f.severity == "error"] == []
    assert [f for f in verify(province()) if f.severity == "error"] == []


def test_every_rule_is_described_in_both_languages():
    assert len(RULES) >= 20
    for entry in rules_table():
        assert entry["severity"] in ("error", "warning")
        assert entry["reads"] and entry["zh"] and entry["en"]
        assert any("\u4e00" <= char <= "\u9fff" for char in entry["zh"])


def test_the_spec_rules_are_all_registered():
    spec = {"funds-lines-sum", "execution-rate", "execution-score", "funds-order", "balance",
            "indicator-score-above-weight", "category-score-above-weight", "weights-sum", "total-score",
            "grade-mismatch", "narrative-score", "narrative-grade", "narrative-rate", "indicator-shortfall",
            "unknown-category"}
    assert spec <= set(RULES)


# ---------------------------------------------------------------------------------------------- precision


def test_printed_numbers_reads_ocr_forms_with_their_decimals():
    assert printed_numbers("…×100%）80.38% 自评得分为8分") == \
        [(Decimal(100), 0), (Decimal("80.38"), 2), (Decimal(8), 0)]
    assert printed_numbers("30. 01") == [(Decimal("30.01"), 2)]
    assert printed_numbers("19,38") == [(Decimal("19.38"), 2)]
    assert printed_numbers("1,068") == [(Decimal(1068), 0)]
    assert printed_numbers("88.450000") == [(Decimal("88.450000"), 6)]


def test_precision_comes_from_the_mapping_then_the_evidence_then_the_float():
    record = city(evidence={"execution_rate": Evidence(line=534, text="预算执行率为…×100%）80.38% 自评得分为8分")})
    subject = Subject(record, {"execution_score": "8.0"})
    assert subject.decimals("execution_score", 8) == 1          # the mapping
    assert subject.decimals("execution_rate", 80.38) == 2       # the evidence text
    assert subject.decimals("total_score", 96) == 0             # the float: 96.0 → 0


def test_a_score_printed_as_a_whole_number_is_checked_as_one():
    # 001-T15 (1445): 2.46 / 3 = 82% → 8.2, printed "8" (rounded to a whole number: agrees).
    t15 = city(funds=Funds(planned=FundLine(total=8, city=8), received=FundLine(total=3, city=3),
                           executed=FundLine(total=2.46, city=2.46)), execution_rate=None, execution_score=8)
    assert "execution-score" not in rule_ids(t15)
    # The same value printed "8.0" claims one decimal, and 8.0 is not 8.2.
    assert "execution-score" in rule_ids(t15, {"execution_score": "8.0"})


def test_a_rate_printed_with_two_decimals_is_checked_to_two():
    # Province sub-row prints "100.00": 99.54 would round to 100 but not to 100.00.
    off = province(funds=Funds(planned=FundLine(total=35), executed=FundLine(total=34.84), balance=0.16))
    assert "execution-rate" not in rule_ids(off)
    assert "execution-rate" in rule_ids(off, {"execution_rate": "100.00"})


# ---------------------------------------------------------------------------------------------- funds


def test_funds_lines_sum():
    assert flags_of(city(), "funds-lines-sum") == []
    # 001-T18 (1677/1679): executed total 2.92, its 市财政 line 4.12.
    t18 = city(funds=Funds(planned=FundLine(total=5, central_provincial=0, city=5, county=0, other=0),
                           received=FundLine(total=4.12, central_provincial=0, city=4.12, county=0, other=0),
                           executed=FundLine(total=2.92, central_provincial=0, city=4.12, county=0, other=0)))
    flags = flags_of(t18, "funds-lines-sum")
    assert len(flags) == 1 and flags[0].severity == "error"
    assert "funds.executed.total" in flags[0].fields and "funds.executed.city" in flags[0].fields
    assert flags[0].values["funds.executed.city"] == 4.12


def test_funds_lines_carry_one_cent_per_summand():
    close = city(funds=Funds(planned=FundLine(total=10, central_provincial=3.33, city=3.33, county=3.33)))
    assert flags_of(close, "funds-lines-sum") == []
    off = city(funds=Funds(planned=FundLine(total=10, central_provincial=3.33, city=3.33, county=3.3)))
    assert len(flags_of(off, "funds-lines-sum")) == 1


def test_funds_order_is_a_warning():
    assert flags_of(city(), "funds-order") == []
    # 001-T16 (1516) received 0.41, executed 0.41; an executed above received breaks the order.
    breach = city(funds=Funds(planned=FundLine(total=5), received=FundLine(total=0.41), executed=FundLine(total=0.5)))
    flags = flags_of(breach, "funds-order")
    assert [f.severity for f in flags] == ["warning"]


def test_balance():
    assert flags_of(province(), "balance") == []
    # 002-P2 read by position (565): planned 27.34, executed 25.24, balance printed 0 → expected 2.10.
    positional = province(funds=Funds(planned=FundLine(total=27.34), executed=FundLine(total=25.24), balance=0))
    assert [f.values["expected"] for f in flags_of(positional, "balance")] == ["2.1"]


# ---------------------------------------------------------------------------------------------- rate and score


def test_execution_rate():
    assert flags_of(city(), "execution-rate") == []
    # 001-T19 (1758) prints 80.36 for 6.43 / 8 = 80.375.
    flags = flags_of(city(execution_rate=80.36), "execution-rate")
    assert len(flags) == 1 and flags[0].severity == "error" and flags[0].values["expected"] == "80.38"
    # 001-T2 (713): "50%" while the funds are 6/6/6.
    t2 = city(funds=Funds(planned=FundLine(total=6), received=FundLine(total=6), executed=FundLine(total=6)),
              execution_rate=50, execution_score=None)
    assert len(flags_of(t2, "execution-rate")) == 1


def test_execution_rate_without_received_is_compared_with_planned_as_a_warning():
    no_received = city(funds=Funds(planned=FundLine(total=8), executed=FundLine(total=6.43)), execution_rate=70)
    assert [f.severity for f in flags_of(no_received, "execution-rate")] == ["warning"]


def test_execution_score():
    assert flags_of(city(), "execution-score") == []  # 10 × 80.38% = 8.04, printed 8
    # 001-T9 (1135): "预算执行率97.03%，得分3.7".
    flags = flags_of(city(execution_rate=97.03, execution_score=3.7), "execution-score")
    assert len(flags) == 1 and flags[0].values["expected"] == "9.7" and "9.703" in flags[0].message
    # 001-T17 (1607): score 9 with nothing executed.
    t17 = city(funds=Funds(planned=FundLine(total=8), received=FundLine(total=5), executed=FundLine(total=0)),
               execution_rate=None, execution_score=9)
    assert len(flags_of(t17, "execution-score")) == 1


def test_execution_score_above_weight():
    assert flags_of(city(), "execution-score-above-weight") == []
    # 001-T4 (830): "预算执行率100%，得分100分".
    t4 = city(funds=Funds(planned=FundLine(total=0.692), received=FundLine(total=0.692),
                          executed=FundLine(total=0.692)), execution_rate=100, execution_score=100)
    assert len(flags_of(t4, "execution-score-above-weight")) == 1


def test_implied_execution_score():
    # 003-T2 (735–797): no score printed; 97.81 − 49.74 − 30 − 10 = 8.07 = 10 × 80.71%.
    t2 = city(funds=Funds(planned=FundLine(total=320), received=FundLine(total=320),
                          executed=FundLine(total=258.28)),
              execution_rate=80.71, execution_score=None,
              category_scores=[CategoryScore(level1="产出指标", weight=50, score=49.74),
                               CategoryScore(level1="效益指标", weight=30, score=30),
                               CategoryScore(level1="满意度指标", weight=10, score=10)],
              total_score=97.81)
    assert flags_of(t2, "implied-execution-score") == []
    wrong = t2.model_copy(update={"total_score": 99.81})
    assert [f.severity for f in flags_of(wrong, "implied-execution-score")] == ["warning"]


# ---------------------------------------------------------------------------------------------- weights and totals


def test_indicator_score_above_weight():
    assert flags_of(province(), "indicator-score-above-weight") == []
    over = province()
    over.indicators[7] = over.indicators[7].model_copy(update={"score": 12})
    flags = flags_of(over, "indicator-score-above-weight")
    assert len(flags) == 1 and flags[0].fields == ["indicators[7].score", "indicators[7].weight"]


def test_category_score_above_weight():
    assert flags_of(city(), "category-score-above-weight") == []
    # 001-T22 (1926/1938): "产出指标 (40分)" with subtotal 48.
    t22 = city(category_scores=[CategoryScore(level1="产出指标", weight=40, score=48),
                                CategoryScore(level1="效益指标", weight=30, score=30),
                                CategoryScore(level1="满意度指标", weight=10, score=8)])
    flags = flags_of(t22, "category-score-above-weight")
    assert len(flags) == 1 and flags[0].fields[0] == "category_scores[0].score"


def test_total_score_range():
    assert flags_of(city(), "total-score-range") == []
    # 001-T25 read with the OCR's "90" for 30 (2138) would total 148.
    assert len(flags_of(city(total_score=148), "total-score-range")) == 1


def test_weights_sum():
    assert flags_of(city(), "weights-sum") == []
    assert flags_of(province(), "weights-sum") == []
    # 001-T15 (1464): "产出指标 (60分)" → 60 + 30 + 10 + 10 = 110.
    t15 = city(category_scores=[CategoryScore(level1="产出指标", weight=60, score=50),
                                CategoryScore(level1="效益指标", weight=30, score=30),
                                CategoryScore(level1="满意度指标", weight=10, score=10)], total_score=98)
    flags = flags_of(t15, "weights-sum")
    assert len(flags) == 1 and "110" in flags[0].message


def test_weights_sum_needs_every_category_weight():
    # 001-T1 (679): the 满意度 block prints no weight, so the sum cannot be checked.
    t1 = city(category_scores=[CategoryScore(level1="产出指标", weight=50, score=49),
                               CategoryScore(level1="效益指标", weight=30, score=30),
                               CategoryScore(level1="满意度指标", weight=None, score=10)])
    assert flags_of(t1, "weights-sum") == []


def test_category_indicator_sum():
    assert flags_of(province(), "category-indicator-sum") == []  # 4×5 + 10 + 10 + 9 = 49
    wrong = province()
    wrong.category_scores[0] = CategoryScore(level1="产出指标", weight=50, score=50)
    flags = flags_of(wrong, "category-indicator-sum")
    assert len(flags) == 1 and flags[0].values["expected"] == "49"


def test_total_score():
    assert flags_of(city(), "total-score") == []       # 8 + 48 + 30 + 10 = 96
    assert flags_of(province(), "total-score") == []   # 10 + 89 = 99
    # 001-T13 (1362): total 90, though 10 + 50 + 30 + 10 = 100.
    t13 = city(execution_rate=None, execution_score=10,
               funds=Funds(planned=FundLine(total=101), received=FundLine(total=101), executed=FundLine(total=101)),
               category_scores=[CategoryScore(level1="产出指标", weight=50, score=50),
                                CategoryScore(level1="效益指标", weight=30, score=30),
                                CategoryScore(level1="满意度指标", weight=10, score=10)], total_score=90)
    flags = flags_of(t13, "total-score")
    assert len(flags) == 1 and flags[0].values["expected"] == "100"


# ---------------------------------------------------------------------------------------------- grade and narrative


def test_grade_mismatch():
    assert flags_of(city(), "grade-mismatch") == []
    # 001-T17 (1651): 总计 empty, conclusion "单位总分95分，等级为良" – 95 is 优.
    t17 = city(total_score=None, grade="良", narrative=Narrative(conclusion="通过自评，单位总分95分，等级为良。"))
    flags = flags_of(t17, "grade-mismatch")
    assert len(flags) == 1 and flags[0].values["expected"] == "优"


def test_grade_not_stated_says_which_grade_the_total_implies():
    assert flags_of(city(), "grade-not-stated") == []
    # 001-T2 (730): total 89 and no grade anywhere.
    t2 = city(total_score=89, grade=None, narrative=Narrative(conclusion="开展第九个“中华慈善日”主题宣传活动。"))
    flags = flags_of(t2, "grade-not-stated")
    assert [(f.severity, f.values["expected"]) for f in flags] == [("warning", "良")]


def test_narrative_score():
    assert flags_of(city(), "narrative-score") == []
    # 001-T13 (1362/1364): total 90, conclusion "本项目自评100分，等级优".
    t13 = city(total_score=90, narrative=Narrative(conclusion="本项目自评100分，等级优，改善了入住老人居住环境。"))
    flags = flags_of(t13, "narrative-score")
    assert len(flags) == 1 and flags[0].severity == "error"


def test_narrative_score_ignores_block_scores():
    text = "本项目自评96分，等级为优。产出指标得分48分。"
    assert flags_of(city(narrative=Narrative(conclusion=text)), "narrative-score") == []


def test_narrative_grade():
    assert flags_of(city(), "narrative-grade") == []
    # 001-T1 (684): "自评等级优秀" means 优.
    assert flags_of(city(narrative=Narrative(conclusion="项目自评得分99分，自评等级优秀。")), "narrative-grade") == []
    assert len(flags_of(city(grade="良", total_score=89, execution_score=None), "narrative-grade")) == 1


def test_narrative_rate():
    # 001-T18 (1722): "本年支付了2.92万元，支付率为70.87%" = 2.92 / 4.12.
    t18 = city(funds=Funds(planned=FundLine(total=5), received=FundLine(total=4.12), executed=FundLine(total=2.92)),
               execution_rate=None, execution_score=7,
               narrative=Narrative(conclusion="项目批复4.12万元，本年支付了2.92万元，支付率为70.87%"))
    assert flags_of(t18, "narrative-rate") == []
    # 001-T17 (1651): "支出率为60%" with nothing executed.
    t17_funds = Funds(planned=FundLine(total=8), received=FundLine(total=5), executed=FundLine(total=0))
    t17_text = "预算完成35150元（未支付，形成结余），支出率为60%。"
    t17 = t18.model_copy(update={"funds": t17_funds, "narrative": Narrative(conclusion=t17_text)})
    assert [f.severity for f in flags_of(t17, "narrative-rate")] == ["warning"]


def test_narrative_rate_reads_bounds():
    # 001-T3 (766/792): rate 98.7 printed, the conclusion says "预算执行率99%以上".
    t3 = city(execution_rate=98.7, narrative=Narrative(conclusion="综合运营平台，预算执行率99%以上，养老服务"))
    assert len(flags_of(t3, "narrative-rate")) == 1
    assert flags_of(t3.model_copy(update={"execution_rate": 99.2}), "narrative-rate") == []


def test_narrative_amount():
    t18 = city(funds=Funds(planned=FundLine(total=5), received=FundLine(total=4.12), executed=FundLine(total=2.92)),
               narrative=Narrative(conclusion="项目批复4.12万元，本年支付了2.92万元，支付率为70.87%"))
    assert flags_of(t18, "narrative-amount") == []
    assert flags_of(province(), "narrative-amount") == []  # 252400元 = 25.24万元
    t17 = city(funds=Funds(planned=FundLine(total=8), received=FundLine(total=5), executed=FundLine(total=0)),
               narrative=Narrative(conclusion="项目预算批复5万元，预算完成35150元（未支付，形成结余）"))
    flags = flags_of(t17, "narrative-amount")
    assert len(flags) == 1 and flags[0].values["narrative.conclusion"] == ["预算完成35150元"]


# ---------------------------------------------------------------------------------------------- indicators


def test_indicator_shortfall_with_full_marks_is_a_warning():
    # 000-T1 (540): ≥95% → 0, but 产出 scores 48 of 50: penalised, no warning.
    assert flags_of(city(), "indicator-shortfall") == []
    # 001-T16 (1568): 群众满意度 ≥90% → ≥80%, 满意度 10 of 10.
    t16 = city()
    t16.indicators[3] = Indicator(level1="满意度指标", level2="服务对象满意度指标", name="群众满意度",
                                  target="≥90%", actual="≥80%")
    flags = flags_of(t16, "indicator-shortfall")
    assert [(f.severity, f.fields[0]) for f in flags] == [("warning", "indicators[3].actual")]


def test_indicator_shortfall_reads_the_adjusted_target_and_the_qualitative_phrase():
    # 002-P2: 时效 note "部分达成预期指标并具有一定效果" scored 10 of 10 (576);
    # 成本 =273400元 → =252400元 is a saving, and scored 9 of 10 anyway.
    flags = flags_of(province(), "indicator-shortfall")
    assert [f.fields[0] for f in flags] == ["indicators[6].actual"]
    # 002-P9 (804): 申请丧葬费人数 ≥2000人 → ≥1700人, 10 of 10.
    p9 = province()
    p9.indicators[0] = Indicator(level1="产出指标", level2="数量指标", name="申请丧葬费人数", target="≥人",
                                 adjusted_target="≥2000人", actual="≥1700人", weight=10, score=10)
    assert "indicators[0].actual" in [f.fields[0] for f in flags_of(p9, "indicator-shortfall")]


def test_score_for_empty_indicator():
    assert flags_of(province(), "score-for-empty-indicator") == []
    # 001-T1 (675): "经济效益指标 指标1" with every cell empty, and the block's 30 on that row.
    t1 = province()
    t1.indicators.append(Indicator(level1="效益指标", level2="经济效益指标", name="指标1", score=30))
    assert len(flags_of(t1, "score-for-empty-indicator")) == 1


def test_unknown_category():
    assert flags_of(city(), "unknown-category") == []
    # 001-T5 (903): "基本指标 (30分)	社会效益" – an invented level1.
    t5 = city()
    t5.indicators[0] = t5.indicators[0].model_copy(update={"level1": "基本指标", "level2": None})
    flags = flags_of(t5, "unknown-category")
    assert sorted(f.fields[0] for f in flags) == ["indicators[0].level1", "indicators[0].level2"]


# ---------------------------------------------------------------------------------------------- dates


def test_fill_date_early():
    assert flags_of(city(), "fill-date-early") == []
    # 001-T1 (641): 填报日期 2024年4月14日 for the 2024 evaluation.
    flags = flags_of(city(fill_date=dt.date(2024, 4, 14)), "fill-date-early")
    assert len(flags) == 1 and flags[0].severity == "error"


def test_eval_year_period():
    assert flags_of(city(), "eval-year-period") == []
    assert flags_of(city(period="2024.10.1-2025.3.31"), "eval-year-period") == []  # 001-T11 (1224)
    assert flags_of(city(period="一年"), "eval-year-period") == []                  # 001-T20 (1806)
    # 001-T24 (2040): "绩效自评评价年度 2025年" for a 2024 project.
    assert len(flags_of(city(eval_year=2025, period="2024年"), "eval-year-period")) == 1


# ---------------------------------------------------------------------------------------------- apply


def test_apply_verification_keeps_other_flags_and_is_idempotent():
    extractor_flag = Flag(rule="extract-uncertain", severity="warning", fields=["phone"], message="split cell")
    stale = Flag(rule="total-score", severity="error", fields=["total_score"], message="from an earlier edit")
    record = city(execution_rate=80.36, flags=[extractor_flag, stale])
    once = apply_verification(record)
    assert once.flags[0] == extractor_flag
    assert [f.rule for f in once.flags[1:]] == ["execution-rate"]
    assert apply_verification(once) == once
    assert record.flags == [extractor_flag, stale]  # the input is not changed


def test_a_value_a_rule_cannot_handle_is_a_warning_not_a_crash():
    flags = verify(city(execution_rate=float("nan"), eval_year=0))
    broken = {f.rule: f.severity for f in flags if f.message.startswith("could not be checked")}
    assert broken == {"execution-rate": "warning", "execution-score": "warning", "fill-date-early": "warning"}


def test_flags_serialise_to_json():
    record = apply_verification(city(execution_rate=80.36, fill_date=dt.date(2024, 4, 14)))
    json.loads(record.model_dump_json())


# ---------------------------------------------------------------------------------------------- jixiao check


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _write(tmp_path, *records: Record | dict) -> str:
    path = tmp_path / "records.jsonl"
    lines = [r.model_dump_json() if isinstance(r, Record) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_check_exits_zero_without_errors_and_one_with(runner, tmp_path):
    clean = runner.invoke(app, ["check", _write(tmp_path, city())])
    assert clean.exit_code == 0, clean.output
    broken = runner.invoke(app, ["check", _write(tmp_path, city(), city(execution_rate=80.36))])
    assert broken.exit_code == 1
    assert "execution-rate" in broken.output and "80.36" in broken.output


def test_check_json_groups_flags_by_record(runner, tmp_path):
    result = runner.invoke(app, ["check", "--json", _write(tmp_path, province(), city(fill_date=dt.date(2024, 4, 14)))])
    payload = json.loads(result.output)
    errors = [[f["rule"] for f in r["flags"] if f["severity"] == "error"] for r in payload["records"]]
    assert errors == [[], ["fill-date-early"]]
    assert payload["errors"] == 1 and payload["warnings"] == 1  # province(): 部分达成 with full marks
    assert result.exit_code == 1


def test_check_accepts_gold_lines_and_skips_error_entries(runner, tmp_path):
    gold = json.loads(city().model_dump_json())
    for key in ("evidence", "flags", "extractor", "corrections"):
        gold.pop(key)
    gold.update({"uncertain": ["phone"], "gold_notes": ["a note"]})
    error_entry = {"kind": "error", "doc": CITY_DOC, "stage": "extract", "message": "boom"}
    result = runner.invoke(app, ["check", _write(tmp_path, gold, error_entry)])
    assert result.exit_code == 0, result.output
    assert "1 error entr" in result.output


@pytest.mark.parametrize("content, expected", [
    (None, "no such file"),
    ("{not json\n", "not valid JSON"),
    ('{"template": "city-project"}\n', "not a record"),
    ("[1, 2]\n", "expected a JSON object"),
])
def test_check_gives_one_line_errors_for_unreadable_input(runner, tmp_path, content, expected):
    path = tmp_path / "in.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2
    assert expected in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_check_lists_the_rules(runner):
    result = runner.invoke(app, ["check", "--rules"])
    assert result.exit_code == 0
    for rule_id in RULES:
        assert rule_id in result.output
