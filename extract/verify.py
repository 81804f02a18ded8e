"""Stage: verify a record against the numeric rules of the form, and flag what does not hold.

Every rule is a small function registered in ``RULES`` with an id, a severity,
the fields it reads and a one-line description in Chinese and English; a new
rule is one function and one decorator, never an edit of a long if-chain.

A flag says that the numbers disagree, not which number is wrong: documents in
the wild break these rules themselves, and the reviewer decides.

Printed precision
-----------------
Records hold floats, so the precision a number was printed with must travel
with it. The verifier looks it up, per field path, in this order:

1. ``printed[path]``, an optional mapping path → printed text passed by the
   caller (e.g. a reviewer's edit: ``{"execution_score": "9.0"}``);
2. ``record.evidence[path].text``, the input line the value was read from,
   which normally contains the number as printed ("…×100%）80.38% 自评得分为8分");
   the first number in that text equal to the value gives the decimals;
3. the float itself: the shortest repr (80.38 → 2 decimals, 8.0 → 0).

A printed number ``v`` with ``d`` decimals agrees with a computed ``c`` when
``|v − c| ≤ 0.5 × 10^-d`` (half-up rounding, either way at an exact tie). Money
sums carry the 尾数误差 the documents warn of: ±0.01 per summand, whatever the printed
precision (amounts are typed, not rounded: a total printed 89 over a line of
88.45 disagrees). All
arithmetic is Decimal, so 96.75 × 0.1 is 9.675, not 9.674999….
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from extract.match import vocabulary
from extract.values import number_tokens
from schemas.record import CategoryScore, Flag, FundLine, Record, Severity

ALL_TEMPLATES = frozenset({"city-project", "province-project", "transfer-payment", "other"})
SCORED_TEMPLATES = frozenset({"city-project", "province-project", "other"})
"""Forms that print scores; ``other`` covers the department-overall form (a goal-declaration
form prints none, so its records leave these rules nothing to check)."""
GRADED_TEMPLATES = frozenset({"city-project", "province-project"})
"""Forms whose 总分 row or conclusion states a grade."""
DEFAULT_EXECUTION_WEIGHT = Decimal(10)
CENT = Decimal("0.01")
FUND_LINES = ("planned", "received", "executed")
SPLIT_KEYS = ("central_provincial", "city", "county", "other")
GRADE_BANDS: tuple[tuple[Decimal, str], ...] = ((Decimal(90), "优"), (Decimal(80), "良"), (Decimal(60), "中"))


# ---------------------------------------------------------------------------------------------- numbers


def dec(value: float | int | Decimal) -> Decimal:
    """The exact decimal a float was written as (``repr`` is the shortest round-trip form)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(float(value)))


def repr_decimals(value: float | Decimal) -> int:
    """Decimals implied by the value alone: 80.38 → 2, 8.0 → 0."""
    exponent = dec(value).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def half_unit(decimals: int) -> Decimal:
    return Decimal(5).scaleb(-(decimals + 1))


def agrees(printed: float | Decimal, computed: Decimal, decimals: int) -> bool:
    """Does a number printed to ``decimals`` places agree with the exact ``computed`` value?"""
    return abs(dec(printed) - computed) <= half_unit(decimals)


def show(value: Decimal | float | None, places: int = 4) -> str:
    """A computed number for a message: at most ``places`` decimals, no trailing zeros."""
    if value is None:
        return "null"
    quantised = dec(value).quantize(Decimal(1).scaleb(-places))
    text = format(quantised.normalize(), "f")
    return text


def plain(value: float | None) -> float | int | None:
    """A record value as the flag's ``values`` show it (8, not 8.0)."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def printed_numbers(text: str) -> list[tuple[Decimal, int]]:
    """Every number in a printed text with its decimals ("30. 01" → 30.01/2, "1,068" → 1068/0)."""
    return [(Decimal(token.lstrip("+")), len(token.split(".")[1]) if "." in token else 0)
            for token, _ in number_tokens(text)]


# ---------------------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Finding:
    """What a rule found; the registry turns it into a ``Flag`` with the rule's id and severity."""

    fields: list[str]
    message: str
    values: dict[str, Any] = field(default_factory=dict)
    severity: Severity | None = None
    """Overrides the rule's severity for this finding (e.g. a weaker basis of comparison)."""


@dataclass
class Subject:
    """The record under verification and the printed texts that give each field's precision."""

    record: Record
    printed: Mapping[str, str] = field(default_factory=dict)

    def decimals(self, path: str, value: float | None) -> int:
        if value is None:
            return 0
        target = dec(value)
        for text in (self.printed.get(path), self._evidence_text(path)):
            if not text:
                continue
            for number, decimals in printed_numbers(text):
                if number == target:
                    return decimals
        return repr_decimals(value)

    def _evidence_text(self, path: str) -> str | None:
        evidence = self.record.evidence.get(path)
        return evidence.text if evidence else None


Check = Callable[[Subject], Iterator[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    reads: tuple[str, ...]
    """The fields the rule reads, as path patterns (``[]`` stands for every index, ``*`` for each line)."""
    zh: str
    en: str
    templates: frozenset[str]
    check: Check

    def run(self, subject: Subject) -> list[Flag]:
        """The rule's flags; a value the rule cannot handle (NaN, year 0) becomes a warning, not a crash."""
        if subject.record.template not in self.templates:
            return []
        try:
            return [Flag(rule=self.id, severity=finding.severity or self.severity, fields=finding.fields,
                         message=finding.message, values=finding.values)
                    for finding in self.check(subject)]
        except (ArithmeticError, ValueError, TypeError) as error:
            return [Flag(rule=self.id, severity="warning", fields=list(self.reads),
                         message=f"could not be checked: {type(error).__name__}: {error}".strip(": "))]


RULES: dict[str, Rule] = {}
"""Every numeric rule, by id, in the order it runs."""


def rule(rule_id: str, severity: Severity, reads: tuple[str, ...], zh: str, en: str,
         templates: frozenset[str] = ALL_TEMPLATES) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id!r} registered twice")
        RULES[rule_id] = Rule(rule_id, severity, reads, zh, en, templates, check)
        return check
    return register


# ---------------------------------------------------------------------------------------------- helpers


def _fund_path(line: str, key: str) -> str:
    return f"funds.{line}.{key}"


def _fund_total(record: Record, line: str) -> float | None:
    fund: FundLine | None = getattr(record.funds, line)
    return fund.total if fund else None


def _rate_basis(record: Record) -> tuple[str, float, float] | None:
    """(denominator line, executed, denominator) of the execution rate, by the form's definition.

    City: executed / received; province, transfer, other: executed / planned. A city
    form whose received line is missing falls back to planned (the caller weakens the flag).
    """
    executed = _fund_total(record, "executed")
    if executed is None:
        return None
    order = ("received", "planned") if record.template == "city-project" else ("planned",)
    for line in order:
        denominator = _fund_total(record, line)
        if denominator is not None and denominator != 0:
            return line, executed, denominator
    return None


def computed_rate(record: Record) -> Decimal | None:
    basis = _rate_basis(record)
    if basis is None:
        return None
    _, executed, denominator = basis
    return dec(executed) / dec(denominator) * 100


def _rate_for_score(subject: Subject) -> tuple[Decimal, str] | None:
    """The rate the execution score should follow: the printed rate, else the funds' rate."""
    record = subject.record
    if record.execution_rate is not None:
        return dec(record.execution_rate), "execution_rate"
    basis = _rate_basis(record)
    if basis is None:
        return None
    line, executed, denominator = basis
    return dec(executed) / dec(denominator) * 100, f"funds.executed.total / funds.{line}.total"


def _execution_weight(record: Record) -> Decimal:
    return dec(record.execution_weight) if record.execution_weight is not None else DEFAULT_EXECUTION_WEIGHT


def expected_execution_score(subject: Subject) -> tuple[Decimal, str] | None:
    rate = _rate_for_score(subject)
    if rate is None:
        return None
    value, source = rate
    return _execution_weight(subject.record) * min(value, Decimal(100)) / 100, source


def level1_blocks(record: Record) -> list[str]:
    """The first-level categories the table has, in order (from its indicators and subtotals)."""
    seen: list[str] = []
    for name in [i.level1 for i in record.indicators] + [c.level1 for c in record.category_scores]:
        if name and name not in seen:
            seen.append(name)
    return seen


def _category_index(record: Record) -> dict[str, tuple[int, CategoryScore]]:
    index: dict[str, tuple[int, CategoryScore]] = {}
    for position, category in enumerate(record.category_scores):
        index.setdefault(category.level1, (position, category))
    return index


def implied_grade(total: Decimal) -> str:
    for threshold, grade in GRADE_BANDS:
        if total >= threshold:
            return grade
    return "差"


# The narrative quotes: "本项目自评96分，等级为优", "支付率为70.87%", "预算执行率99%以上".
_SCORE_QUOTE = re.compile(
    r"(自评得分|总得分|自评分|评价分|评分|得分|总分|自评)\s*(?:为|是|达到|达|：|:)?\s*(\d+(?:\.\d+)?)\s*分")
_SCORE_QUOTE_NOT_TOTAL = re.compile(r"(指标|执行率|执行情况|产出|效益|满意度|预算)[^，。,；;]{0,4}$")
_GRADE_QUOTE = re.compile(r"等\s*[级級次]\s*(?:为|是|评定为|：|:)?\s*[“\"'‘「]?\s*(优秀|优|良好|良|中等|中|差)")
_RATE_QUOTE = re.compile(
    r"(预算执行率|资金执行率|项目执行率|执行率|预算完成率|资金支出率|支出率|支付率|预算到位率|资金到位率|到位率)"
    r"\s*(?:为|是|达到|达|：|:)?\s*(\d+(?:\.\d+)?)\s*%\s*(以上|以下)?")


@dataclass(frozen=True)
class Quote:
    value: Decimal
    decimals: int
    text: str
    bound: str | None = None


def _number_quote(match: re.Match[str], group: int, bound: str | None = None) -> Quote:
    token = match.group(group)
    decimals = len(token.split(".")[1]) if "." in token else 0
    return Quote(Decimal(token), decimals, match.group(0), bound)


def quoted_total_scores(text: str | None) -> list[Quote]:
    """Scores the narrative gives for the whole project, not for one block ("产出指标得分45分")."""
    if not text:
        return []
    quotes = []
    for match in _SCORE_QUOTE.finditer(text):
        before = text[max(0, match.start() - 8):match.start()]
        if _SCORE_QUOTE_NOT_TOTAL.search(before):
            continue
        quotes.append(_number_quote(match, 2))
    return quotes


def quoted_grades(text: str | None) -> list[tuple[str, str]]:
    """(grade, quoted text) pairs; 优秀 means 优, 良好 良, 中等 中."""
    if not text:
        return []
    return [(match.group(1)[0], match.group(0)) for match in _GRADE_QUOTE.finditer(text)]


def quoted_rates(text: str | None) -> list[tuple[str, Quote]]:
    """("execution" | "received", quote) for each rate the narrative states."""
    if not text:
        return []
    found = []
    for match in _RATE_QUOTE.finditer(text):
        kind = "received" if "到位" in match.group(1) else "execution"
        found.append((kind, _number_quote(match, 2, match.group(3))))
    return found


_NUMERIC_VALUE = re.compile(r"^\s*(≥|>|=|≤|<|＞|＜|＝)?\s*(\d+(?:\.\d+)?)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Measure:
    operator: str
    value: Decimal
    unit: str


def read_measure(text: str | None) -> Measure | None:
    """"≥30批次" → (≥, 30, 批次); text that is not one number with a unit gives None."""
    if not text:
        return None
    squeezed = re.sub(r"\s+", "", text).replace("＞", ">").replace("＜", "<").replace("＝", "=")
    match = _NUMERIC_VALUE.match(squeezed)
    if not match:
        return None
    unit = match.group(3)
    if re.search(r"\d", unit) or len(unit) > 8:
        return None
    return Measure(match.group(1) or "", Decimal(match.group(2)), unit)


SHORTFALL_MARGIN = Decimal("0.05")
"""A shortfall is "clear" when the actual misses the target by at least 5% of it (≥30 vs 20, not =96400 vs =96288)."""
_QUALITATIVE_SHORTFALL = re.compile(r"部分达成预期指标|未达成预期指标")


def _clear_shortfall(target: Measure, actual: Measure, *, is_cost: bool) -> bool:
    """Does the actual clearly miss the target? A cost that stays under an "=" target is a saving, not a miss."""
    margin = abs(target.value) * SHORTFALL_MARGIN
    if target.operator in ("≤", "<"):
        return actual.value > target.value + margin
    if is_cost and target.operator in ("=", ""):
        return actual.value > target.value + margin
    return actual.value < target.value - margin


def _misses_target(target_text: str | None, actual_text: str | None, note: str | None, *, is_cost: bool) -> bool:
    """A clear numeric miss in the same unit, or the form's own phrase 部分达成/未达成预期指标."""
    if _QUALITATIVE_SHORTFALL.search((actual_text or "") + (note or "")):
        return True
    target, actual = read_measure(target_text), read_measure(actual_text)
    if target is None or actual is None or not _same_unit(target.unit, actual.unit):
        return False
    return _clear_shortfall(target, actual, is_cost=is_cost)


def _same_unit(target_unit: str, actual_unit: str) -> bool:
    """Units must match exactly ("元/具/天" is not "元/具/年"); a bare actual ("0") counts as the target's unit."""
    return actual_unit == "" or target_unit == actual_unit


def vocabulary_sets() -> tuple[frozenset[str], frozenset[str]]:
    """The canonical level1 and level2 names (schemas/vocab/categories.json)."""
    categories = vocabulary("categories")
    level1 = frozenset(key for key in categories["level1"] if not key.startswith("_"))
    level2 = frozenset(key for key in categories["level2"] if not key.startswith("_"))
    return level1, level2


_YEAR = re.compile(r"(?<!\d)(19\d{2}|20\d{2})(?!\d)")


# ---------------------------------------------------------------------------------------------- rules


@rule("funds-lines-sum", "error", ("funds.*.total", "funds.*.central_provincial", "funds.*.city",
                                   "funds.*.county", "funds.*.other"),
      "资金来源分项之和等于合计（中央省+市+县区+其它=合计，每个分项允许±0.01尾数误差）",
      "the funds lines add up: central/provincial + city + county + other = total (±0.01 per summand)")
def _funds_lines_sum(subject: Subject) -> Iterator[Finding]:
    record = subject.record
    for line in FUND_LINES:
        fund: FundLine | None = getattr(record.funds, line)
        if fund is None or fund.total is None:
            continue
        parts = {key: getattr(fund, key) for key in SPLIT_KEYS if getattr(fund, key) is not None}
        if not parts:
            continue
        total = dec(fund.total)
        summed = sum((dec(value) for value in parts.values()), Decimal(0))
        tolerance = CENT * len(parts)
        if abs(summed - total) <= tolerance:
            continue
        fields = [_fund_path(line, "total")] + [_fund_path(line, key) for key in parts]
        values: dict[str, Any] = {path: plain(getattr(fund, path.rsplit(".", 1)[1])) for path in fields}
        values["expected"] = f"sum of lines {show(summed)} = total {show(total)} ± {show(tolerance)}"
        yield Finding(fields, f"{line}: the lines add up to {show(summed)}, the total is {show(total)}", values)


@rule("execution-rate", "error", ("execution_rate", "funds.executed.total", "funds.received.total",
                                  "funds.planned.total"),
      "预算执行率=实际执行金额/实际到位金额×100%（市级表；省级表与转移支付表用全年执行数/全年预算数），按打印精度比较",
      "execution_rate = executed / received × 100 (city), executed / planned × 100 (province, transfer), "
      "at the printed precision")
def _execution_rate(subject: Subject) -> Iterator[Finding]:
    record = subject.record
    if record.execution_rate is None:
        return
    basis = _rate_basis(record)
    if basis is None:
        return
    line, executed, denominator = basis
    computed = dec(executed) / dec(denominator) * 100
    decimals = subject.decimals("execution_rate", record.execution_rate)
    if agrees(record.execution_rate, computed, decimals):
        return
    weaker = record.template == "city-project" and line != "received"
    fields = ["execution_rate", "funds.executed.total", f"funds.{line}.total"]
    yield Finding(
        fields,
        f"execution rate {show(dec(record.execution_rate))}% but {show(dec(executed))} / {show(dec(denominator))} "
        f"= {show(computed, 4)}%" + (" (received is missing: compared with planned)" if weaker else ""),
        {"execution_rate": plain(record.execution_rate), "funds.executed.total": plain(executed),
         f"funds.{line}.total": plain(denominator), "expected": show(computed, max(decimals, 2))},
        severity="warning" if weaker else None)


@rule("execution-score", "error", ("execution_score", "execution_weight", "execution_rate", "funds.*.total"),
      "项目执行情况得分=分值×min(预算执行率,100%)，按打印精度比较（打印为8分则与整数比较）",
      "execution_score = execution_weight × min(rate, 100%), compared at the printed precision",
      SCORED_TEMPLATES)
def _execution_score(subject: Subject) -> Iterator[Finding]:
    record = subject.record
    if record.execution_score is None:
        return
    expected = expected_execution_score(subject)
    if expected is None:
        return
    value, source = expected
    decimals = subject.decimals("execution_score", record.execution_score)
    if agrees(record.execution_score, value, decimals):
        return
    fields = ["execution_score", "execution_weight"]
    fields += ["execution_rate"] if source == "execution_rate" else ["funds.executed.total"]
    yield Finding(
        fields,
        f"execution score {show(dec(record.execution_score))} but {show(_execution_weight(record))} × "
        f"min({source} = {show(value / _execution_weight(record) * 100, 4)}%, 100%) = {show(value)}",
        {"execution_score": plain(record.execution_score), "execution_weight": plain(record.execution_weight),
         "rate": show(value / _execution_weight(record) * 100, 4), "expected": show(value, max(decimals, 2))})


@rule("implied-execution-score", "warning", ("total_score", "category_scores[].score", "execution_rate",
                                             "funds.*.total"),
      "未打印执行得分时：总分−各一级指标小计应等于分值×执行率",
      "where no execution score is printed, total − Σ category subtotals should equal weight × rate",
      frozenset({"city-project"}))
def _implied_execution_score(subject: Subject) -> Iterator[Finding]:
    record = subject.record
    if record.execution_score is not None or record.total_score is None:
        return
    categories = _category_index(record)
    blocks = level1_blocks(record)
    if not blocks or any(categories.get(b) is None or categories[b][1].score is None for b in blocks):
        return
    expected = expected_execution_score(subject)
    if expected is None:
        return
    value, source = expected
    scores = [categories[b][1].score for b in blocks]
    implied = dec(record.total_score) - sum((dec(s) for s in scores if s is not None), Decimal(0))
    decimals = max([subject.decimals("total_score", record.total_score)]
                   + [subject.decimals(f"category_scores[{categories[b][0]}].score", categories[b][1].score)
                      for b in blocks])
    if agrees(implied, value, decimals):
        return
    fields = ["total_score"] + [f"category_scores[{categories[b][0]}].score" for b in blocks]
    yield Finding(
        fields + (["execution_rate"] if source == "execution_rate" else ["funds.executed.total"]),
        f"no execution score printed; total − subtotals = {show(implied)}, but weight × rate ({source}) "
        f"= {show(value)}",
        {"total_score": plain(record.total_score), "implied_execution_score": show(implied),
         "expected": show(value, max(decimals, 2))})


@rule("funds-order", "warning", ("funds.planned.total", "funds.received.total", "funds.executed.total"),
      "一般应有 实际执行金额 ≤ 实际到位金额 ≤ 项目预算金额",
      "executed ≤ received ≤ planned is expected",
      frozenset({"city-project"}))
def _funds_order(subject: Subject) -> Iterator[Finding]:
    record = subject.record
    chain = [(line, _fund_total(record, line)) for line in ("executed", "received", "planned")]
    present = [(line, value) for line, value in chain if value is not None]
    for (low_line, low), (high_line, high) in zip(present, present[1:], strict=False):
        if dec(low) > dec(high):
            yield Finding([f"funds.{low_line}.total", f"funds.{high_line}.total"],
                          f"{low_line} {show(dec(low))} exceeds {high_line} {show(dec(high))}",
                          {f"funds.{low_line}.total": plain(low), f"funds.{high_line}.total": plain(high),
                           "expected": f"{low_line} ≤ {high_line}"})


@rule("balance", "error", ("funds.balance", "funds.planned.total", "funds.executed.total"),
      "资金结(转)余=全年预算数−全年执行数",
      "balance = planned − executed",
      frozenset({"province-project", "transfer-payment"}))
def _balance(subject: Subject) -> Iterator[Finding]:
    record = subject.record
    planned, executed, balance = _fund_total(record, "planned"), _fund_total(record, "executed"), record.funds.balance
    if planned is None or executed is None or balance is None:
        return
    expected = dec(planned) - dec(executed)
    tolerance = CENT * 2
    if abs(dec(balance) - expected) <= tolerance:
        return
    yield Finding(["funds.balance", "funds.planned.total", "funds.executed.total"],
                  f"balance {show(dec(balance))} but planned − executed = {show(expected)}",
                  {"funds.balance": plain(balance), "funds.planned.total": plain(planned),
                   "funds.executed.total": plain(executed), "expected": show(expected)})


@rule("indicator-score-above-weight", "error", ("indicators[].score", "indicators[].weight"),
      "单个指标得分不超过其分值", "an indicator's score ≤ its weight")
def _indicator_score_above_weight(subject: Subject) -> Iterator[Finding]:
    for index, indicator in enumerate(subject.record.indicators):
        score, weight = indicator.score, indicator.weight
        if score is not None and weight is not None and dec(score) > dec(weight):
            yield Finding([f"indicators[{index}].score", f"indicators[{index}].weight"],
                          f"{indicator.name or 'indicator'}: score {show(dec(score))} above its weight "
                          f"{show(dec(weight))}",
                          {f"indicators[{index}].score": plain(score), f"indicators[{index}].weight": plain(weight),
                           "expected": f"score ≤ {show(dec(weight))}"})


@rule("category-score-above-weight", "error", ("category_scores[].score", "category_scores[].weight"),
      "一级指标小计得分不超过该一级指标分值", "a category's score ≤ its weight")
def _category_score_above_weight(subject: Subject) -> Iterator[Finding]:
    for index, category in enumerate(subject.record.category_scores):
        if category.score is not None and category.weight is not None and dec(category.score) > dec(category.weight):
            yield Finding([f"category_scores[{index}].score", f"category_scores[{index}].weight"],
                          f"{category.level1}: score {show(dec(category.score))} above its weight "
                          f"{show(dec(category.weight))}",
                          {f"category_scores[{index}].score": plain(category.score),
                           f"category_scores[{index}].weight": plain(category.weight),
                           "expected": f"score ≤ {show(dec(category.weight))}"})


@rule("execution-score-above-weight", "error", ("execution_score", "execution_weight"),
      "项目执行情况得分不超过其分值（通常10分）", "execution_score ≤ execution_weight (10 unless printed otherwise)",
      SCORED_TEMPLATES)
def _execution_score_above_weight(subject: Subject) -> Iterator[Finding]:
    record = subject.record
    if record.execution_score is None:
        return
    weight = _execution_weight(record)
    if dec(record.execution_score) > weight:
        yield Finding(["execution_score", "execution_weight"],
                      f"execution score {show(dec(record.execution_score))} above its weight {show(weight)}",
                      {"execution_score": plain(record.execution_score),
                       "execution_weight": plain(record.execution_weight), "expected": f"≤ {show(weight)}"})


@rule("total-score-range", "error", ("total_score",),
      "总分在0到100分之间", "the total score lies between 0 and 100")
def _total_score_range(subject: Subject) -> Iterator[Finding]:
    total = subject.record.total_score
    if total is not None and not Decimal(0) <= dec(total) <= Decimal(100):
        yield Finding(["total_score"], f"total score {show(dec(total))} outside 0–100",
                      {"total_score": plain(total), "expected": "0 ≤ total ≤ 100"})


@rule("weights-sum", "error", ("category_scores[].weight", "indicators[].weight", "execution_weight"),
      "各一级指标分值之和+项目执行分值=100（每个一级指标都打印分值时检查）",
      "category weights + execution_weight = 100 (where every category prints its weight)",
      SCORED_TEMPLATES)
def _weights_sum(subject: Subject) -> Iterator[Finding]:
    record = subject.record
    blocks = level1_blocks(record)
    categories = _category_index(record)
    fields: list[str] = []
    weights: list[Decimal] = []
    if blocks and all(b in categories and categories[b][1].weight is not None for b in blocks):
        for block in blocks:
            position, category = categories[block]
            fields.append(f"category_scores[{position}].weight")
            weights.append(dec(category.weight))  # type: ignore[arg-type]
    elif record.template == "province-project" and record.indicators and \
            all(indicator.weight is not None for indicator in record.indicators):
        fields = [f"indicators[{i}].weight" for i in range(len(record.indicators))]
        weights = [dec(indicator.weight) for indicator in record.indicators]  # type: ignore[arg-type]
    else:
        return
    total = sum(weights, Decimal(0)) + _execution_weight(record)
    if total == 100:
        return
    yield Finding(fields + ["execution_weight"],
                  f"weights add up to {show(total)} ({' + '.join(show(w) for w in weights)} + execution "
                  f"{show(_execution_weight(record))}), not 100",
                  {"weights": [plain(float(w)) for w in weights], "execution_weight": plain(record.execution_weight),
                   "expected": 100})


@rule("category-indicator-sum", "error", ("category_scores[].score", "category_scores[].weight",
                                          "indicators[].score", "indicators[].weight"),
      "一级指标小计等于其下各指标得分（分值）之和（各指标均打印得分时检查）",
      "a category's score (weight) equals the sum over its indicators, where every indicator prints one")
def _category_indicator_sum(subject: Subject) -> Iterator[Finding]:
    record = subject.record
    for index, category in enumerate(record.category_scores):
        members = [(i, ind) for i, ind in enumerate(record.indicators) if ind.level1 == category.level1]
        if not members:
            continue
        for key in ("score", "weight"):
            stated = getattr(category, key)
            parts = [getattr(ind, key) for _, ind in members]
            if stated is None or any(part is None for part in parts):
                continue
            summed = sum((dec(part) for part in parts), Decimal(0))
            decimals = subject.decimals(f"category_scores[{index}].{key}", stated)
            if agrees(stated, summed, decimals):
                continue
            yield Finding([f"category_scores[{index}].{key}"] + [f"indicators[{i}].{key}" for i, _ in members],
                          f"{category.level1}: {key} {show(dec(stated))} but its indicators add up to {show(summed)}",
                          {f"category_scores[{index}].{key}": plain(stated), "expected": show(summed)})


@rule("total-score", "error", ("total_score", "execution_score", "category_scores[].score", "indicators[].score"),
      "总分=项目执行得分+各一级指标小计（市级表，各小计均打印时）；=执行得分+各指标得分之和（省级表）",
      "total_score = execution_score + Σ category scores (city, every subtotal printed); "
      "= execution_score + Σ indicator scores (province)",
      SCORED_TEMPLATES)
def _total_score(subject: Subject) -> Iterator[Finding]:
    record = subject.record
    if record.total_score is None or record.execution_score is None:
        return
    parts: list[tuple[str, float]] = [("execution_score", record.execution_score)]
    categories = _category_index(record)
    blocks = level1_blocks(record)
    if record.template != "city-project" and record.indicators and \
            all(indicator.score is not None for indicator in record.indicators):
        parts += [(f"indicators[{i}].score", ind.score) for i, ind in enumerate(record.indicators)]  # type: ignore[misc]
    elif blocks and all(b in categories and categories[b][1].score is not None for b in blocks):
        parts += [(f"category_scores[{categories[b][0]}].score", categories[b][1].score)  # type: ignore[misc]
                  for b in blocks]
    else:
        return
    summed = sum((dec(value) for _, value in parts), Decimal(0))
    decimals = max(subject.decimals(path, value) for path, value in parts + [("total_score", record.total_score)])
    if agrees(record.total_score, summed, decimals):
        return
    yield Finding(["total_score"] + [path for path, _ in parts],
                  f"total {show(dec(record.total_score))} but execution score + subtotals = "
                  f"{' + '.join(show(dec(v)) for _, v in parts)} = {show(summed)}",
                  {"total_score": plain(record.total_score), "parts": [plain(v) for _, v in parts],
                   "expected": show(summed)})


def _total_or_quoted(record: Record) -> tuple[Decimal, str] | None:
    """The table's total, else the total the conclusion quotes (001-T17: 总分 empty, "总分95分")."""
    if record.total_score is not None:
        return dec(record.total_score), "total_score"
    quotes = quoted_total_scores(record.narrative.conclusion)
    if quotes:
        return quotes[0].value, "narrative.conclusion"
    return None


@rule("grade-mismatch", "error", ("grade", "total_score", "narrative.conclusion"),
      "等级与总分相符：≥90优，≥80良，≥60中，其余差",
      "the grade matches the total: ≥90 优, ≥80 良, ≥60 中, else 差",
      SCORED_TEMPLATES)
def _grade_mismatch(subject: Subject) -> Iterator[Finding]:
    record = subject.record
    total = _total_or_quoted(record)
    if record.grade is None or total is None:
        return
    value, source = total
    expected = implied_grade(value)
    if expected != record.grade:
        yield Finding(["grade", source],
                      f"grade {record.grade} but the total {show(value)} ({source}) implies {expected}",
                      {"grade": record.grade, source: show(value), "expected": expected})


@rule("grade-not-stated", "warning", ("grade", "total_score"),
      "表中及自评结论均未写明等级；提示总分对应的等级",
      "the table states no grade; the flag says which grade the total implies",
      GRADED_TEMPLATES)
def _grade_not_stated(subject: Subject) -> Iterator[Finding]:
    record = subject.record
    total = _total_or_quoted(record)
    if record.grade is not None or total is None:
        return
    value, source = total
    yield Finding(["grade", source], f"no grade stated; the total {show(value)} implies {implied_grade(value)}",
                  {source: show(value), "expected": implied_grade(value)})


@rule("narrative-score", "error", ("narrative.conclusion", "total_score"),
      "自评结论中引用的总分与表中总分一致", "the score quoted in the conclusion agrees with the table's total")
def _narrative_score(subject: Subject) -> Iterator[Finding]:
    record = subject.record
    quotes = quoted_total_scores(record.narrative.conclusion)
    if record.total_score is None or not quotes:
        return
    total = dec(record.total_score)
    if any(agrees(quote.value, total, quote.decimals) or agrees(total, quote.value, repr_decimals(total))
           for quote in quotes):
        return
    quote = quotes[0]
    yield Finding(["narrative.conclusion", "total_score"],
                  f"the conclusion says “{quote.text}”, the table's total is {show(total)}",
                  {"narrative.conclusion": quote.text, "total_score": plain(record.total_score),
                   "expected": show(total)})


@rule("narrative-grade", "error", ("narrative.conclusion", "grade"),
      "自评结论中引用的等级与表中等级一致", "the grade quoted in the conclusion agrees with the record's grade")
def _narrative_grade(subject: Subject) -> Iterator[Finding]:
    record = subject.record
    quotes = quoted_grades(record.narrative.conclusion)
    if record.grade is None or not quotes:
        return
    if any(grade == record.grade for grade, _ in quotes):
        return
    grade, text = quotes[0]
    yield Finding(["narrative.conclusion", "grade"], f"the conclusion says “{text}”, the grade is {record.grade}",
                  {"narrative.conclusion": text, "grade": record.grade, "expected": record.grade})


@rule("narrative-rate", "warning", ("narrative.conclusion", "execution_rate", "funds.*.total"),
      "自评结论中引用的预算执行率（支出率、支付率）、到位率与表中数字一致",
      "the execution (支出/支付) rate and the 到位率 quoted in the conclusion agree with the table")
def _narrative_rate(subject: Subject) -> Iterator[Finding]:
    record = subject.record
    for kind, quote in quoted_rates(record.narrative.conclusion):
        if kind == "execution":
            if record.execution_rate is not None:
                expected, fields = dec(record.execution_rate), ["execution_rate"]
            else:
                expected, fields = computed_rate(record), ["funds.executed.total"]  # type: ignore[assignment]
        else:
            received, planned = _fund_total(record, "received"), _fund_total(record, "planned")
            if record.template != "city-project" or received is None or not planned:
                continue
            expected, fields = dec(received) / dec(planned) * 100, ["funds.received.total", "funds.planned.total"]
        if expected is None:
            continue
        if quote.bound == "以上":
            holds = expected >= quote.value - half_unit(2)
        elif quote.bound == "以下":
            holds = expected <= quote.value + half_unit(2)
        else:
            holds = agrees(quote.value, expected, quote.decimals)
        if holds:
            continue
        yield Finding(["narrative.conclusion"] + fields,
                      f"the conclusion says “{quote.text}”, the table gives {show(expected, 2)}%",
                      {"narrative.conclusion": quote.text, "expected": show(expected, 2)})


_AMOUNT_QUOTE = re.compile(r"(批复|预算|到位|拨入|拨付|支付|支出|执行|完成|下达|金额|资金)[^，。,；;：:\d]{0,6}?"
                           r"(?:为|了|是|共|计)?\s*(\d+(?:[.,]\d+)*)\s*(万元|元)")


def quoted_amounts(text: str | None) -> list[Quote]:
    """Money the narrative quotes with a budget word before it ("本年支付了2.92万元", "发放金额为262100元"), in 万元."""
    if not text:
        return []
    quotes = []
    for match in _AMOUNT_QUOTE.finditer(text):
        numbers = printed_numbers(match.group(2))
        if len(numbers) != 1:
            continue
        value, decimals = numbers[0]
        if match.group(3) == "元":
            value, decimals = value / 10000, decimals + 4
        quotes.append(Quote(value, decimals, match.group(0)))
    return quotes


def _fund_amounts(subject: Subject) -> list[tuple[str, float]]:
    record = subject.record
    amounts: list[tuple[str, float]] = []
    for line in FUND_LINES:
        fund: FundLine | None = getattr(record.funds, line)
        if fund is None:
            continue
        for key in ("total",) + SPLIT_KEYS:
            value = getattr(fund, key)
            if value is not None:
                amounts.append((_fund_path(line, key), value))
    for key in ("declared", "initial", "balance"):
        value = getattr(record.funds, key)
        if value is not None:
            amounts.append((f"funds.{key}", value))
    return amounts


@rule("narrative-amount", "warning", ("narrative.conclusion", "funds.*.total"),
      "自评结论中引用的预算、到位、支付金额应为表中某一资金数",
      "money the conclusion quotes as budget, received or paid is one of the table's amounts",
      frozenset({"city-project", "province-project", "transfer-payment"}))
def _narrative_amount(subject: Subject) -> Iterator[Finding]:
    amounts = _fund_amounts(subject)
    if not amounts:
        return
    unmatched: list[Quote] = []
    for quote in quoted_amounts(subject.record.narrative.conclusion):
        matched = any(agrees(quote.value, dec(value), quote.decimals) or
                      agrees(value, quote.value, subject.decimals(path, value)) for path, value in amounts)
        if not matched and quote.text not in {seen.text for seen in unmatched}:
            unmatched.append(quote)
    if not unmatched:
        return
    totals = sorted({path.rsplit(".", 1)[0] + ".total" for path, _ in amounts if path.count(".") == 2})
    listed = "; ".join(f"“{quote.text}” = {show(quote.value)}万元" for quote in unmatched)
    yield Finding(["narrative.conclusion"] + totals,
                  f"the conclusion quotes {listed}: none of the table's amounts "
                  f"({', '.join(sorted({show(dec(v)) for _, v in amounts}))})",
                  {"narrative.conclusion": [quote.text for quote in unmatched],
                   "expected": "one of the funds amounts"})


@rule("indicator-shortfall", "warning", ("indicators[].target", "indicators[].adjusted_target",
                                         "indicators[].actual", "indicators[].score", "category_scores[].score"),
      "指标实际完成值明显未达到目标值，却得满分", "a clear numeric shortfall of an indicator, yet full marks")
def _indicator_shortfall(subject: Subject) -> Iterator[Finding]:
    record = subject.record
    categories = _category_index(record)
    for index, indicator in enumerate(record.indicators):
        target_path = "adjusted_target" if indicator.adjusted_target else "target"
        if not _misses_target(getattr(indicator, target_path), indicator.actual, indicator.note,
                              is_cost="成本" in f"{indicator.level1}{indicator.level2}"):
            continue
        if indicator.score is not None and indicator.weight is not None:
            full = dec(indicator.score) >= dec(indicator.weight)
            marks_path = f"indicators[{index}].score"
        elif indicator.score is None and indicator.level1 in categories:
            position, category = categories[indicator.level1]
            full = category.score is not None and category.weight is not None and \
                dec(category.score) >= dec(category.weight)
            marks_path = f"category_scores[{position}].score"
        else:
            continue
        if not full:
            continue
        yield Finding([f"indicators[{index}].actual", f"indicators[{index}].{target_path}", marks_path],
                      f"{indicator.name or 'indicator'}: target {getattr(indicator, target_path) or '—'}, actual "
                      f"{indicator.actual or '—'}" + (f", note {indicator.note}" if indicator.note else "")
                      + ", yet full marks",
                      {"target": getattr(indicator, target_path), "actual": indicator.actual,
                       "expected": "a score below full marks, or an explanation"})


@rule("score-for-empty-indicator", "warning", ("indicators[].score", "indicators[].target", "indicators[].actual"),
      "表中目标值、完成值均为空的指标却给了得分",
      "an indicator whose target and actual the table leaves empty has a score")
def _score_for_empty_indicator(subject: Subject) -> Iterator[Finding]:
    for index, indicator in enumerate(subject.record.indicators):
        empty = not indicator.target and not indicator.adjusted_target and not indicator.actual
        if empty and indicator.score is not None and indicator.score > 0:
            yield Finding([f"indicators[{index}].score", f"indicators[{index}].target", f"indicators[{index}].actual"],
                          f"{indicator.name or 'an unnamed indicator'}: score {show(dec(indicator.score))} with "
                          "no target and no actual",
                          {f"indicators[{index}].score": plain(indicator.score), "expected": "no score, or values"})


@rule("fill-date-early", "error", ("fill_date", "eval_year"),
      "填报日期不早于评价年度结束（评价2024年度的表不可能在2024年内填报）",
      "the fill date is after the end of the evaluated year")
def _fill_date_early(subject: Subject) -> Iterator[Finding]:
    record = subject.record
    if record.fill_date is None or record.eval_year is None:
        return
    year_end = dt.date(record.eval_year, 12, 31)
    if record.fill_date <= year_end:
        yield Finding(["fill_date", "eval_year"],
                      f"filled on {record.fill_date.isoformat()}, before the evaluated year {record.eval_year} ended",
                      {"fill_date": record.fill_date.isoformat(), "eval_year": record.eval_year,
                       "expected": f"after {year_end.isoformat()}"})


@rule("eval-year-period", "warning", ("eval_year", "period"),
      "绩效自评年度应在项目起止时间所跨的年份内", "eval_year lies within the years of the project period")
def _eval_year_period(subject: Subject) -> Iterator[Finding]:
    record = subject.record
    if record.eval_year is None or not record.period:
        return
    years = [int(year) for year in _YEAR.findall(record.period)]
    if not years or min(years) <= record.eval_year <= max(years):
        return
    yield Finding(["eval_year", "period"], f"eval_year {record.eval_year} but the period is {record.period}",
                  {"eval_year": record.eval_year, "period": record.period,
                   "expected": f"{min(years)}" if min(years) == max(years) else f"{min(years)}–{max(years)}"})


@rule("unknown-category", "warning", ("indicators[].level1", "indicators[].level2"),
      "指标的一级/二级指标为空或不在规范名称表内", "an indicator's level1/level2 is null or not a canonical name")
def _unknown_category(subject: Subject) -> Iterator[Finding]:
    level1_names, level2_names = vocabulary_sets()
    for index, indicator in enumerate(subject.record.indicators):
        for key, names in (("level1", level1_names), ("level2", level2_names)):
            value = getattr(indicator, key)
            if value is None or value not in names:
                yield Finding([f"indicators[{index}].{key}"],
                              f"{indicator.name or 'indicator'}: {key} "
                              + ("is empty" if value is None else f"“{value}” is not a canonical category"),
                              {f"indicators[{index}].{key}": value, "expected": "one of " + "/".join(sorted(names))})


# ---------------------------------------------------------------------------------------------- interface


def verify(record: Record, printed: Mapping[str, str] | None = None) -> list[Flag]:
    """The flags of every registered rule the record breaks (rule flags only).

    ``printed`` optionally maps a field path to the text it was printed as, to give
    that field's precision; without it, evidence texts and the floats themselves do.
    """
    subject = Subject(record, printed or {})
    flags: list[Flag] = []
    for registered in RULES.values():
        flags.extend(registered.run(subject))
    return flags


def apply_verification(record: Record, printed: Mapping[str, str] | None = None) -> Record:
    """A copy whose flags are the record's non-rule flags followed by fresh rule flags.

    Flags whose rule id is in ``RULES`` are dropped and recomputed, so running it twice
    gives the same record; extractor, name and document flags are kept as they are.
    """
    kept = [flag for flag in record.flags if flag.rule not in RULES]
    return record.model_copy(update={"flags": kept + verify(record, printed)})


def rules_table() -> list[dict[str, Any]]:
    """The registry as plain data (for documentation, the review page, ``check --rules``)."""
    return [{"id": r.id, "severity": r.severity, "reads": list(r.reads), "zh": r.zh, "en": r.en,
             "templates": sorted(r.templates)} for r in RULES.values()]
