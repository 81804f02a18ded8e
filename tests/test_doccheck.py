"""Document-level checks against the seed disclosures' own statements, and tables printed twice."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from extract.doccheck import (
    apply_duplicate_flags,
    check_document,
    check_duplicates,
    document_report,
    find_statement,
)
from schemas.record import CategoryScore, FundLine, Funds, Indicator, Record, Source

DOCS = Path(__file__).resolve().parents[1] / "eval" / "docs"
D000 = "000_cc1de7d507d20929.txt"
D001 = "001_fe13dc1954f10c91.part-a.txt"
D002 = "002_df651f07c846b8e4.txt"
D003 = "003_8f17777081bc2c59.part-a.txt"


def doc_lines(name: str) -> list[str]:
    return (DOCS / name).read_text(encoding="utf-8").split("\n")


def table(doc: str, line: int, name: str, planned: float, *, total: float | None = 96, grade: str | None = "优",
          template: str = "city-project", rate: float | None = 80.38, cost_target: str = "≥10万") -> Record:
    return Record(
        source=Source(doc=doc, start_line=line, end_line=line + 40), template=template, project_name=name,
        funds=Funds(planned=FundLine(total=planned), received=FundLine(total=planned),
                    executed=FundLine(total=6.43)),
        execution_rate=rate, execution_score=8, total_score=total, grade=grade, phone="2298168",
        indicators=[Indicator(level1="产出指标", level2="成本指标", name="救助家庭核对系统网络维护",
                              target=cost_target)],
        category_scores=[CategoryScore(level1="产出指标", weight=50, score=48)],
    )


# ---------------------------------------------------------------------------------------------- the statement


@pytest.mark.parametrize("doc, line, count, funds, grades", [
    (D000, 477, 1, Decimal("8"), {"优": 1}),
    (D001, 606, 39, Decimal("3223"), {"优": 33, "良": 6, "中": 0, "差": 0}),
    (D002, 498, 17, Decimal("3484.42"), {"优": 17}),
    (D003, 605, 6, Decimal("596.45"), {"优": 5, "良": 1, "中": 0, "差": 0}),  # "1个项 目…" split by a space
])
def test_the_statement_of_each_seed_is_parsed(doc, line, count, funds, grades):
    statement = find_statement(doc_lines(doc))
    assert statement is not None
    assert (statement.line, statement.count, statement.funds, statement.grades) == (line, count, funds, grades)


def test_the_department_evaluation_after_the_statement_is_not_read_as_its_funds():
    # 001:606 continues "二是…1个项目开展了部门评价…涉及资金150万元".
    assert find_statement(doc_lines(D001)).funds == Decimal("3223")


def test_a_document_without_a_statement_gives_no_flags():
    assert find_statement(["第一部分 概况", "无"]) is None
    assert check_document(["第一部分 概况"], [table(D000, 517, "x", 8)]) == []


# ---------------------------------------------------------------------------------------------- checks


def test_000_agrees_with_its_statement():
    # 000:477 "绩效自评个数1个，涉及资金8万元：1个项目自评等级为“优”".
    assert check_document(doc_lines(D000), [table(D000, 517, "市低保中心单位运转办公、核对工作经费", 8)]) == []


def test_000_with_other_funds_or_grade_breaks_its_statement():
    lines = doc_lines(D000)
    funds = check_document(lines, [table(D000, 517, "p", 9)])
    assert [(f.rule, f.severity) for f in funds] == [("doc-funds", "error")]
    grade = check_document(lines, [table(D000, 517, "p", 8, total=85, grade="良")])
    assert {(f.rule, f.severity) for f in grade} == {("doc-grades", "error")}
    # No grade stated: the total 96 implies 优, as the statement says.
    assert check_document(lines, [table(D000, 517, "p", 8, grade=None)]) == []


def test_more_tables_than_stated_is_an_error():
    flags = check_document(doc_lines(D000), [table(D000, 517, "a", 4), table(D000, 600, "b", 4)])
    assert ("doc-count", "error") in [(f.rule, f.severity) for f in flags]


def test_a_truncated_file_is_a_warning_not_a_crash():
    # 003 part-a: 3 of the 6 stated tables, 385 of 596.45万元, grades 优 only.
    records = [table(D003, 650, "评审中心工作运行费", 45, total=94.67),
               table(D003, 735, "", 320, total=97.81, grade=None),
               table(D003, 809, "PPP工作经费", 20, total=98.99)]
    report = document_report(doc_lines(D003), records, D003)
    assert report.truncated
    assert [(f.rule, f.severity) for f in report.flags] == [("doc-truncated", "warning")]
    # 001 part-a with nothing extracted yet: still one warning, no error.
    assert [(f.rule, f.severity) for f in check_document(doc_lines(D001), [], D001)] == [("doc-truncated", "warning")]


def test_a_part_can_still_exceed_its_statement():
    # More 良 tables in 003 part-a than the single 良 the statement gives.
    records = [table(D003, 650 + i, f"p{i}", 10, total=85, grade="良") for i in range(2)]
    flags = check_document(doc_lines(D003), records, D003)
    assert ("doc-grades", "warning") in [(f.rule, f.severity) for f in flags]


def test_goal_form_amounts_in_yuan_count_in_wan():
    # 002 P12 prints 255,600元 in a goal-declaration (other) form.
    lines = ["2024年二级项目绩效自评个数2个，涉及资金26.56万元；2个项目自评等级为“优”。"]
    records = [table(D002, 894, "代缴经费补充险", 255600, template="other", total=100, grade=None, rate=100),
               table(D002, 1065, "临时工工资", 1, template="province-project", total=100, rate=100)]
    assert check_document(lines, records, D002) == []


# ---------------------------------------------------------------------------------------------- duplicates


def test_the_same_table_in_two_documents_must_agree():
    # 000-T1 (000:534) prints 80.38, its copy 001-T19 (001:1758) 80.36; cost target ≥10万 vs ≤10万 (001:1766).
    first = table(D000, 517, "市低保中心单位运转办公、核对工作经费", 8)
    second = table(D001, 1741, "市低保中心单位运转办公、核对工作经费", 8, rate=80.36, cost_target="≤10万")
    flags = check_duplicates([first, second])
    assert [sorted(field for f in fl for field in f.fields) for fl in flags] == \
        [["execution_rate", "indicators[0].target"]] * 2
    assert all(f.severity == "warning" for fl in flags for f in fl)
    assert flags[0][0].values["other"] == f"{D001}:1741"


def test_near_identical_projects_with_other_names_are_not_duplicates():
    # 001-T16 (1516) and T18 (1667): near-identical names, both planned 5.
    t16 = table(D001, 1516, "办案经费：清明及十月一期间服务费和弥补基本经费不足", 5, rate=100)
    t18 = table(D001, 1667, "办案经费:清明及十月一超量服务费和接待基本经费不足", 5, rate=70.87)
    assert check_duplicates([t16, t18]) == [[], []]


def test_same_name_other_funds_is_not_a_duplicate():
    assert check_duplicates([table(D000, 517, "p", 8), table(D001, 1741, "p", 9, rate=50)]) == [[], []]


def test_apply_duplicate_flags_is_idempotent():
    records = [table(D000, 517, "p", 8), table(D001, 1741, "p", 8, rate=80.36)]
    once = apply_duplicate_flags(records)
    assert [len(r.flags) for r in once] == [1, 1]
    assert apply_duplicate_flags(once) == once
