"""Reading printed values from real cells of the seeds: money, rates, scores, dates, periods, phones, codes.

A parser returns None for what it cannot read and says through ``Reading.doubt``
when it had to choose between readings (a comma that may be a decimal point);
the extractor turns that doubt into a flag, so a silent wrong choice is a bug.
"""

from __future__ import annotations

import datetime as dt

import pytest
from support.seeds import lines

from extract.repair import clean_cell
from extract.values import (
    grade_in,
    is_numeric_cell,
    percent_in,
    read_date,
    read_number,
    read_period,
    read_phone,
    read_year,
    score_in,
    split_code,
)


def cells(doc: str, number: int) -> list[str]:
    """The non-empty cells of a seed line, as printed (not yet cleaned)."""
    return [text for text in lines(doc)[number - 1].split("\t") if text.strip()]


def cell(doc: str, number: int, containing: str) -> str:
    found = [text for text in cells(doc, number) if containing in text]
    assert found, f"{doc}:{number} has no cell with {containing!r}"
    return found[0]


# ---------------------------------------------------------------------------------------------
# Money


@pytest.mark.parametrize(
    ("doc", "number", "printed", "value", "decimals"),
    [
        ("003", 661, "30. 01", 30.01, 2),
        ("003", 743, "258. 28", 258.28, 2),
        ("001", 1807, "88.450000", 88.45, 2),
        ("000", 527, "6.43", 6.43, 2),
        ("002", 1036, "4,100,000", 4_100_000, 0),
    ],
)
def test_money_read_without_doubt(doc: str, number: int, printed: str, value: float, decimals: int) -> None:
    reading = read_number(cell(doc, number, printed), money=True)
    assert reading is not None
    assert reading.value == pytest.approx(value)
    assert reading.decimals == decimals
    assert reading.doubt is None


@pytest.mark.parametrize(
    ("doc", "number", "printed", "value"),
    [("003", 663, "30,01", 30.01), ("003", 824, "19,38", 19.38), ("001", 2010, "71,895760万元", 71.89576)],
)
def test_comma_before_two_or_many_digits_is_a_decimal_point_and_doubted(
        doc: str, number: int, printed: str, value: float) -> None:
    start = cell(doc, number, printed).index(printed)
    reading = read_number(cell(doc, number, printed)[start:], money=True)
    assert reading is not None and reading.value == pytest.approx(value)
    assert reading.doubt and printed.split("万")[0] in reading.doubt


@pytest.mark.parametrize(("doc", "number", "printed", "value"),
                         [("002", 734, "1,068", 1068), ("002", 901, "255,600", 255_600)])
def test_comma_before_three_digits_is_thousands_but_doubted(doc: str, number: int, printed: str, value: float) -> None:
    """"1,068" (002:734) is 1068万元 by the target "<1068万元": the default reading, still flagged."""
    reading = read_number(cell(doc, number, printed), money=True)
    assert reading is not None and reading.value == value
    assert reading.doubt is not None


def test_the_ambiguous_14_256_is_never_read_silently() -> None:
    """002:1073 "14,256" is 14.256万元 (the text says 142560元): whichever reading, it carries a doubt."""
    reading = read_number(cell("002", 1073, "14,256"), money=True)
    assert reading is not None
    assert reading.value in (14256, pytest.approx(14.256))
    assert reading.doubt is not None and "14,256" in reading.doubt


@pytest.mark.parametrize("text", ["", "得分", "——", "-", "本项内容主"])
def test_cells_without_a_number_read_as_none(text: str) -> None:
    assert read_number(text) is None


@pytest.mark.parametrize(("text", "numeric"), [
    ("88.450000", True), ("49.74分", True), ("80.38%", True), ("1,068", True), ("8万元", True),
    ("43. /437", False), ("A0分 10分 10分", False), ("≥95%", False), ("2241 得分", False),
])
def test_numeric_cell(text: str, numeric: bool) -> None:
    assert is_numeric_cell(text) is numeric


# ---------------------------------------------------------------------------------------------
# Rates and scores in sentences


def test_rate_sentence_ignores_the_times_100_percent_of_its_formula() -> None:
    sentence = cell("000", 534, "80.38%")
    assert "×100%" in sentence
    rate = percent_in(sentence)
    assert rate is not None and rate.value == 80.38 and rate.decimals == 2
    score = score_in(sentence)
    assert score is not None and score.value == 8


@pytest.mark.parametrize(("doc", "number", "rate"), [("003", 750, 80.71), ("003", 829, 96.75)])
def test_rate_formula_over_split_cells(doc: str, number: int, rate: float) -> None:
    """003 prints "=(258. 28/320×100%) =80. 71%" across several cells."""
    joined = "".join(clean_cell(text) for text in cells(doc, number)[1:])
    found = percent_in(joined)
    assert found is not None and found.value == rate


@pytest.mark.parametrize(
    ("number", "rate", "score"),
    [(766, 98.7, 9.9), (830, 100, 100), (1076, 96.88, 9.7), (1135, 97.03, 3.7)],
)
def test_rate_and_score_sentences(number: int, rate: float, score: float) -> None:
    """Values as printed, even when wrong (001:830 '得分100分', 001:1135 3.7 for 9.7): the verifier flags them."""
    sentence = cell("001", number, "执行率")
    assert percent_in(sentence).value == rate
    assert score_in(sentence).value == score


def test_a_bare_percentage_is_read_and_a_sentence_without_one_is_not() -> None:
    assert percent_in(cell("001", 713, "50%")).value == 50
    assert percent_in(cell("003", 669, "本项内容主")) is None
    assert score_in(cell("003", 669, "本项内容主")) is None


@pytest.mark.parametrize(("doc", "number", "grade"), [("000", 556, "优"), ("001", 1651, "良")])
def test_grade_in_conclusion(doc: str, number: int, grade: str) -> None:
    assert grade_in(cell(doc, number, "等级为")) == grade


def test_no_grade_where_none_is_stated() -> None:
    assert grade_in("本项目自评97.81分, 委托评审工作顺利开启") is None


# ---------------------------------------------------------------------------------------------
# Dates, periods, years


@pytest.mark.parametrize(
    ("doc", "number", "containing", "date"),
    [
        ("000", 521, "2025.4.14", dt.date(2025, 4, 14)),
        ("001", 1854, "2025年4月10日", dt.date(2025, 4, 10)),
        ("001", 641, "2024年4月14日", dt.date(2024, 4, 14)),  # a year early, kept as printed
        ("002", 858, "20250407", dt.date(2025, 4, 7)),
        ("003", 737, "2025.4.18", dt.date(2025, 4, 18)),
    ],
)
def test_dates(doc: str, number: int, containing: str, date: dt.date) -> None:
    assert read_date(cell(doc, number, containing)) == date


@pytest.mark.parametrize("text", ["2024年全年", "一年", "2025.2.30", "", "2024年"])
def test_not_a_date(text: str) -> None:
    assert read_date(text) is None


@pytest.mark.parametrize("number", [660, 742, 821])
def test_merged_period_gets_its_dash_back(number: int) -> None:
    """"2024. 01. 012024. 12. 31", "2024. 01, 012024, 12, 31", "2024. (01. 012024. 12. 31"."""
    printed = "".join(text for text in cells("003", number) if text.strip().startswith(("2024.", "01", "(01")))
    assert "012024" in printed.replace(" ", "").replace(",", ".").replace("(", "").replace(".", "")
    assert read_period(printed) == "2024.01.01—2024.12.31"


@pytest.mark.parametrize(("doc", "number", "containing"), [
    ("000", 526, "2024.1.1"), ("001", 646, "2024年1月1日"), ("001", 705, "2024年全年"), ("001", 1806, "一年"),
])
def test_clean_period_kept_as_printed(doc: str, number: int, containing: str) -> None:
    printed = cell(doc, number, containing)
    assert read_period(printed) == printed.strip()


def test_year_under_a_provincial_title() -> None:
    assert lines("002")[526] == "(2024年度)"
    assert read_year(lines("002")[526]) == 2024
    assert read_year(cell("000", 526, "2024年")) == 2024
    assert read_year("一年") is None


# ---------------------------------------------------------------------------------------------
# Phones and codes


def test_phone_split_over_two_cells_is_joined() -> None:
    parts = cells("003", 658)
    start = parts.index("186353089")
    assert read_phone(parts[start:start + 2]) == "18635308988"


@pytest.mark.parametrize(("doc", "number", "containing", "phone"), [
    ("000", 524, "2298168", "2298168"),
    ("002", 858, "03587335166", "03587335166"),
    ("003", 819, "18635308988", "18635308988"),
])
def test_whole_phone(doc: str, number: int, containing: str, phone: str) -> None:
    assert read_phone([cell(doc, number, containing)]) == phone


def test_phone_stops_at_the_next_non_digit_cell() -> None:
    assert read_phone(["2298168", "项目负责人", "123"]) == "2298168"
    assert read_phone(["联系电话"]) is None


def test_joined_phone_of_impossible_length_is_not_returned_as_a_phone() -> None:
    parts = cells("003", 740)
    start = parts.index("1863530898")
    phone = read_phone(parts[start:start + 2])
    digits = "".join(char for char in phone or "" if char.isdigit())
    plausible = len(digits) in (7, 8, 11) or (len(digits) == 12 and digits.startswith("0"))
    assert phone is None or plausible, phone


@pytest.mark.parametrize(
    ("doc", "number", "containing", "code", "name"),
    [
        ("001", 704, "064-", "064", "阳泉市民政局"),
        ("002", 530, "407-", "407", "汾阳市人力资源和社会保障局"),
        ("002", 1034, "401-", "401", "汾阳市人力资源和社会保障"),
        ("002", 530, "407002-", "407002", "汾阳市社会保险中心"),
    ],
)
def test_code_split_off_a_department(doc: str, number: int, containing: str, code: str, name: str) -> None:
    assert split_code(cell(doc, number, containing)) == (code, name)


@pytest.mark.parametrize("text", ["阳泉市民政局", "汾阳市社会保险中心", "2024年城乡居民养老代办员补助"])
def test_no_code_no_split(text: str) -> None:
    assert split_code(text) == (None, text)


def test_merged_period_with_a_one_digit_day_gets_its_dash_back() -> None:
    """Noise class: "2024.1.1—2024.12.31" with the dash lost reads "2024.1.12024.12.31"."""
    from extract.values import read_period

    assert read_period("2024.1.12024.12.31") == "2024.1.1—2024.12.31"
    assert read_period("2024.10.312024.12.31") == "2024.10.31—2024.12.31"
