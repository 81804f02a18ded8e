"""Document-level checks: the disclosure's own count of self-evaluations, and tables printed twice.

A disclosure's 预算绩效情况说明 states how many projects were self-evaluated, the
funds involved and how many got each grade ("绩效自评个数15个，涉及资金5782.9万元：
14个项目自评等级为“优”，1个项目…“良”"). ``check_document`` parses that statement
from the document's lines and checks the extracted records against it.

Where the flags go: a statement about the whole document is not about any one
table, so its flags form a separate document report (``check_document`` returns
them; ``DocumentReport`` carries them with the parsed statement). Putting them
on every record would mark 17 consistent tables as wrong because the document's
total is. Flags that compare two tables (``check_duplicates``) do name fields of
those tables, so they go onto both records.

A file cut short ("part-a" in its name, or fewer tables than stated) cannot be
held to the stated totals: it gets one warning and only the checks that a part
can fail (more tables, more money or more of a grade than stated).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rapidfuzz import fuzz

from extract.match import normalise
from extract.verify import CENT, dec, implied_grade, quoted_total_scores, show
from schemas.paths import iter_leaves
from schemas.record import Flag, Indicator, Record

GRADES = ("优", "良", "中", "差")
RULE_COUNT = "doc-count"
RULE_FUNDS = "doc-funds"
RULE_GRADES = "doc-grades"
RULE_TRUNCATED = "doc-truncated"
RULE_DUPLICATE = "duplicate-disagrees"

DOCUMENT_RULES: dict[str, tuple[str, str]] = {
    RULE_COUNT: ("自评表个数与预算绩效情况说明所述自评项目个数一致",
                 "the number of tables equals the number of self-evaluated projects the document states"),
    RULE_FUNDS: ("各自评表项目预算金额之和等于说明所述涉及资金（每项±0.01）",
                 "the tables' planned funds add up to the funds the statement gives (±0.01 per table)"),
    RULE_GRADES: ("各等级项目个数与说明一致", "the number of projects per grade equals the statement's"),
    RULE_TRUNCATED: ("文件不完整（part-x 或自评表少于所述个数），文档级核对仅部分进行",
                     "the file is cut short (part-x, or fewer tables than stated): document checks are partial"),
    RULE_DUPLICATE: ("同一张表在两处打印（按项目名称和预算金额识别），其数字与内容应一致（提示，不判断哪一份有误）",
                     "the same table printed twice (same project name and planned funds) must agree"),
}
"""Document-level rules: id → (Chinese, English) description. Not in ``verify.RULES``: re-verifying
a record alone cannot recompute them, so ``apply_verification`` keeps their flags."""

OTHER_FORM_YUAN = Decimal(10000)
"""The goal-declaration form (template ``other``) prints 元; the statement counts 万元."""

_TRUNCATED_NAME = re.compile(r"\.part-[0-9a-z]+", re.IGNORECASE)
_COUNT = re.compile(r"(?:自评个数|涉及二级项目|涉及项目|开展绩效自评的项目)(?:为|共)?(\d+)个")
_FUNDS = re.compile(r"(?:涉及资金|资金)(?:为|共|合计)?(\d+(?:\.\d+)?)万元")
_GRADE = re.compile(r"(\d+)个(?:项目)?(?:自评)?(?:等级|结果|等次)?(?:为|是)[“\"'‘「]?(优|良|中|差)")
_STATEMENT_END = re.compile(r"二是|部门评价|重点绩效评价")


@dataclass(frozen=True)
class SelfEvaluationStatement:
    """What the 预算绩效情况说明 says about the self-evaluations (1-based line)."""

    line: int
    text: str
    count: int
    funds: Decimal | None
    grades: dict[str, int]


@dataclass
class DocumentReport:
    doc: str
    statement: SelfEvaluationStatement | None
    truncated: bool
    tables: int
    flags: list[Flag] = field(default_factory=list)


def find_statement(lines: Sequence[str]) -> SelfEvaluationStatement | None:
    """The first line that states a count of self-evaluated projects, parsed; None if there is none."""
    for number, line in enumerate(lines, start=1):
        squeezed = re.sub(r"\s+", "", line)
        if "自评" not in squeezed:
            continue
        count = _COUNT.search(squeezed)
        if count is None:
            continue
        end = _STATEMENT_END.search(squeezed, count.end())
        window = squeezed[count.start():end.start() if end else len(squeezed)]
        funds = _FUNDS.search(window)
        grades: dict[str, int] = {}
        for match in _GRADE.finditer(window):
            grades.setdefault(match.group(2), int(match.group(1)))
        return SelfEvaluationStatement(number, line.strip(), int(count.group(1)),
                                       Decimal(funds.group(1)) if funds else None, grades)
    return None


def is_truncated_name(doc: str) -> bool:
    return bool(_TRUNCATED_NAME.search(doc))


def record_grade(record: Record) -> str | None:
    """The grade a table gives: stated, else implied by its total (or the total its conclusion quotes)."""
    if record.grade:
        return record.grade
    if record.total_score is not None:
        return implied_grade(dec(record.total_score))
    quotes = quoted_total_scores(record.narrative.conclusion)
    return implied_grade(quotes[0].value) if quotes else None


def planned_in_wan(record: Record) -> Decimal | None:
    if record.funds.planned is None or record.funds.planned.total is None:
        return None
    amount = dec(record.funds.planned.total)
    return amount / OTHER_FORM_YUAN if record.template == "other" else amount


def _flag(rule: str, severity: str, message: str, values: dict[str, Any]) -> Flag:
    return Flag(rule=rule, severity=severity, fields=[], message=message, values=values)  # type: ignore[arg-type]


def document_report(lines: Sequence[str], records: Sequence[Record], doc: str | None = None) -> DocumentReport:
    """Parse the statement and check the document's records against it."""
    name = doc or (records[0].source.doc if records else "")
    statement = find_statement(lines)
    truncated = is_truncated_name(name) or (statement is not None and len(records) < statement.count)
    report = DocumentReport(name, statement, truncated, len(records))
    if statement is None:
        return report
    where = {"line": statement.line, "statement": statement.text[:200]}
    if truncated:
        report.flags.append(_flag(RULE_TRUNCATED, "warning",
                                  f"{name}: the statement (line {statement.line}) counts {statement.count} "
                                  f"self-evaluations, the file holds {len(records)} tables; checked as a part",
                                  {**where, "stated": statement.count, "seen": len(records)}))
    if len(records) > statement.count or (not truncated and len(records) != statement.count):
        report.flags.append(_flag(RULE_COUNT, "error",
                                  f"{len(records)} tables, but the statement (line {statement.line}) counts "
                                  f"{statement.count}", {**where, "seen": len(records), "expected": statement.count}))
    report.flags.extend(_funds_flags(statement, records, truncated, where))
    report.flags.extend(_grade_flags(statement, records, truncated, where))
    return report


def _funds_flags(statement: SelfEvaluationStatement, records: Sequence[Record], truncated: bool,
                 where: dict[str, Any]) -> list[Flag]:
    if statement.funds is None or not records:
        return []
    amounts = [planned_in_wan(record) for record in records]
    known = [amount for amount in amounts if amount is not None]
    summed = sum(known, Decimal(0))
    missing = len(amounts) - len(known)
    tolerance = CENT * max(1, len(known))
    values = {**where, "seen": show(summed), "expected": show(statement.funds), "tables_without_planned": missing}
    if truncated or missing:
        if summed > statement.funds + tolerance:
            return [_flag(RULE_FUNDS, "error" if not truncated else "warning",
                          f"the tables' planned funds already add up to {show(summed)}万元, more than the "
                          f"{show(statement.funds)}万元 the statement gives", values)]
        if not truncated and abs(summed - statement.funds) > tolerance:
            return [_flag(RULE_FUNDS, "warning",
                          f"the tables' planned funds add up to {show(summed)}万元 ({missing} without an amount), "
                          f"the statement gives {show(statement.funds)}万元", values)]
        return []
    if abs(summed - statement.funds) <= tolerance:
        return []
    executed = sum((dec(r.funds.executed.total) for r in records
                    if r.funds.executed is not None and r.funds.executed.total is not None), Decimal(0))
    return [_flag(RULE_FUNDS, "error",
                  f"the tables' planned funds add up to {show(summed)}万元 (executed {show(executed)}), the "
                  f"statement gives {show(statement.funds)}万元", values)]


def _grade_flags(statement: SelfEvaluationStatement, records: Sequence[Record], truncated: bool,
                 where: dict[str, Any]) -> list[Flag]:
    if not statement.grades:
        return []
    seen = Counter(record_grade(record) for record in records)
    unknown = seen.pop(None, 0)
    stated = dict(statement.grades)
    if sum(stated.values()) == statement.count:
        for grade in GRADES:
            stated.setdefault(grade, 0)
    flags = []
    for grade, expected in stated.items():
        count = seen.get(grade, 0)
        too_many = count > expected
        too_few = not truncated and count + unknown < expected
        if too_many or too_few:
            flags.append(_flag(RULE_GRADES, "error" if not truncated else "warning",
                               f"{count} tables graded {grade} ({unknown} without a grade), the statement "
                               f"says {expected}", {**where, "grade": grade, "seen": count, "expected": expected}))
    return flags


def check_document(lines: Sequence[str], records: Sequence[Record], doc: str | None = None) -> list[Flag]:
    """Document-level flags (see the module docstring for why they are not put on records)."""
    return document_report(lines, records, doc).flags


# ---------------------------------------------------------------------------------------------- duplicates

COMPARED_FIELDS = ("execution_rate", "execution_score", "execution_weight", "total_score", "grade", "eval_year",
                   "department", "implementing_unit", "project_lead", "phone", "period", "fill_date")
INDICATOR_FIELDS = ("level1", "level2", "target", "adjusted_target", "actual", "weight", "score")
SAME_NAME = 95.0
SAME_INDICATOR = 85.0


def same_table(a: Record, b: Record) -> bool:
    if not a.project_name or not b.project_name:
        return False
    planned_a, planned_b = planned_in_wan(a), planned_in_wan(b)
    if planned_a is None or planned_b is None or abs(planned_a - planned_b) > CENT:
        return False
    return fuzz.ratio(normalise(a.project_name), normalise(b.project_name)) >= SAME_NAME


def _compared(a: Record, b: Record) -> dict[str, tuple[Any, Any]]:
    """The printed values that differ, by path; a value one copy lost (null) is no difference."""
    differences: dict[str, tuple[Any, Any]] = {}
    funds_a = dict(iter_leaves(a.funds.model_dump(mode="json"), "funds"))
    funds_b = dict(iter_leaves(b.funds.model_dump(mode="json"), "funds"))
    for path in funds_a.keys() & funds_b.keys():
        if funds_a[path] is not None and funds_b[path] is not None and funds_a[path] != funds_b[path]:
            differences[path] = (funds_a[path], funds_b[path])
    for key in COMPARED_FIELDS:
        value_a, value_b = getattr(a, key), getattr(b, key)
        if value_a is None or value_b is None or value_a == value_b:
            continue
        if isinstance(value_a, str) and normalise(value_a) == normalise(str(value_b)):
            continue
        differences[key] = (_plain(value_a), _plain(value_b))
    scores_b = {category.level1: category for category in b.category_scores}
    for index, category in enumerate(a.category_scores):
        other = scores_b.get(category.level1)
        for key in ("weight", "score"):
            mine, theirs = getattr(category, key), getattr(other, key) if other else None
            if mine is not None and theirs is not None and mine != theirs:
                differences[f"category_scores[{index}].{key}"] = (mine, theirs)
    for index, indicator in enumerate(a.indicators):
        match = _matching_indicator(indicator.name, b)
        if match is None:
            continue
        for key in INDICATOR_FIELDS:
            mine, theirs = getattr(indicator, key), getattr(match, key)
            if mine is None or theirs is None or normalise(str(mine)) == normalise(str(theirs)):
                continue
            differences[f"indicators[{index}].{key}"] = (mine, theirs)
    return differences


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _matching_indicator(name: str | None, record: Record) -> Indicator | None:
    if not name:
        return None
    scored = [(fuzz.ratio(normalise(name), normalise(other.name)), other)
              for other in record.indicators if other.name]
    if not scored:
        return None
    score, best = max(scored, key=lambda pair: pair[0])
    return best if score >= SAME_INDICATOR else None


def _where(record: Record) -> str:
    return f"{record.source.doc}:{record.source.start_line}"


def check_duplicates(records: Sequence[Record]) -> list[list[Flag]]:
    """For each record, the flags saying where it disagrees with another printing of the same table.

    Two records are one table printed twice when their project names agree (rapidfuzz
    ratio ≥ 95 after normalisation) and their planned funds agree (±0.01), whichever
    documents they come from. One warning per record lists every field that differs: the
    flag cannot tell which copy the OCR misread (000-T1 prints 80.38, its copy 001-T19
    80.36), and a copy whose own numbers break a rule already carries that rule's error.
    """
    flags: list[list[Flag]] = [[] for _ in records]
    for i, first in enumerate(records):
        for j in range(i + 1, len(records)):
            second = records[j]
            if not same_table(first, second):
                continue
            for own, mine, other, index in ((i, first, second, j), (j, second, first, i)):
                differences = _compared(mine, other)
                if not differences:
                    continue
                listed = "; ".join(f"{path} {show_value(a)} vs {show_value(b)}" for path, (a, b) in differences.items())
                flags[own].append(Flag(
                    rule=RULE_DUPLICATE, severity="warning", fields=list(differences),
                    message=f"the same table is printed at {_where(other)} (record {index}); {listed}",
                    values={"other": _where(other),
                            **{path: {"this": a, "other": b} for path, (a, b) in differences.items()}}))
    return flags


def show_value(value: Any) -> str:
    if isinstance(value, float):
        return show(dec(value))
    return str(value)


def apply_duplicate_flags(records: Sequence[Record]) -> list[Record]:
    """Copies of the records with fresh ``duplicate-disagrees`` flags (earlier ones replaced)."""
    found = check_duplicates(records)
    updated = []
    for record, extra in zip(records, found, strict=True):
        flags = [flag for flag in record.flags if flag.rule != RULE_DUPLICATE] + extra
        updated.append(record.model_copy(update={"flags": flags}))
    return updated
