"""Reading printed values: money, percentages, scores, dates, periods, phones, codes.

Each parser returns ``None`` for a cell it cannot read rather than guessing,
and says through ``Reading.doubt`` when it had to choose between readings (a
comma that may be a decimal point), so the extractor can flag the field.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)*")
_SPLIT_SEPARATOR = re.compile(r"(?<=\d)\s*([.,，])\s*(?=\d)")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*[%％]")
_FORMULA_100 = re.compile(r"[×xX*]\s*100\s*[%％]")
_SCORE_AFTER_WORD = re.compile(r"得\s*分\s*(?:为|是|：|:)?\s*(\d+(?:\.\d+)?)")
_GRADE = re.compile(r"(?:等\s*[级次]|评价结果|自评结果|评定结果|结果|评定|评为)\s*(?:为|是|评定为|评为|：|:)?\s*"
                    r"[“\"'‘「]?\s*([优良中差])(?:秀|好|等)?\s*[”\"'’」]?")
_DATE_PARTS = re.compile(r"(\d{4})\s*[年.\-/]\s*(\d{1,2})\s*[月.\-/]\s*(\d{1,2})")
_COMPACT_DATE = re.compile(r"(?<!\d)(20\d{2})(\d{2})(\d{2})(?!\d)")
_MERGED_RANGE = re.compile(r"(\d{4})\.(\d{1,2})\.(\d{1,2})((?:19|20)\d{2})\.(\d{1,2})\.(\d{1,2})")
_YEAR = re.compile(r"(20\d{2}|19\d{2})\s*年?")
_PERSON = re.compile(r"^[\u4e00-\u9fff]{2,4}$")


@dataclass(frozen=True)
class Reading:
    """A parsed number with how many decimals were printed and any doubt about it."""

    value: float
    decimals: int
    doubt: str | None = None


def number_tokens(text: str) -> list[tuple[str, str | None]]:
    """Every number printed in a text, OCR-repaired, as a plain decimal string ("30. 01" → "30.01",
    "1,068" → "1068", "30,01" → "30.01"), with a note where a comma had to be interpreted."""
    compact = _SPLIT_SEPARATOR.sub(r"\1", text.strip()).replace("，", ",")
    tokens: list[tuple[str, str | None]] = []
    for token in _NUMBER.findall(compact):
        doubt = None
        if "," in token:
            token, doubt = _resolve_commas(token)
            if token is None:
                continue
        if token.count(".") > 1:
            continue
        tokens.append((token, doubt))
    return tokens


def read_number(text: str | None, *, money: bool = False) -> Reading | None:
    """The single number a cell holds ("30. 01", "88.450000", "30,01", "1,068", "49.74分")."""
    if not text:
        return None
    found = _NUMBER.findall(_SPLIT_SEPARATOR.sub(r"\1", text.strip()).replace("，", ","))
    if not found:
        return None
    tokens = number_tokens(found[0])
    if not tokens:
        return None
    token, doubt = tokens[0]
    if doubt is None and money and found[0].count(",") == 1 and "." not in found[0]:
        doubt = f"'{found[0]}' read as {token} (thousands comma); it may be a decimal comma"
    value = float(token)
    decimals = len(token.split(".")[1]) if "." in token else 0
    if decimals > 2 and token.endswith("0"):
        decimals = len(token.split(".")[1].rstrip("0"))
    return Reading(value, decimals, doubt)


def _resolve_commas(token: str) -> tuple[str | None, str | None]:
    """A comma before 1–2 or 4+ digits is a decimal point; before exactly 3 it separates thousands.
    With a decimal point after the last comma ("1,200.00") the commas can only group thousands."""
    whole, point, fraction = token.rpartition(".") if "." in token.rsplit(",", 1)[-1] else (token, "", "")
    if point:
        groups = whole.split(",")
        if groups[0] and all(len(group) == 3 for group in groups[1:]):
            return f"{whole.replace(',', '')}.{fraction}", None
        return None, None
    groups = token.split(",")
    if all(len(group) == 3 for group in groups[1:]):
        return token.replace(",", ""), None
    if len(groups) == 2:
        return f"{groups[0]}.{groups[1]}", f"'{token}' read with the comma as a decimal point"
    return None, None


def number(text: str | None, *, money: bool = False) -> float | None:
    reading = read_number(text, money=money)
    return reading.value if reading else None


def is_numeric_cell(text: str) -> bool:
    """A cell that holds a number and nothing but a unit (分, %, 万元)."""
    stripped = re.sub(r"\s+", "", text)
    return bool(re.fullmatch(r"[-+]?\d+(?:[.,]\d+)*(?:分|%|万元|万)?", stripped))


_VALUE_LIKE = re.compile(r"^\s*[≥≤<>＞＜=]|\d")


def looks_like_value(text: str) -> bool:
    """A cell that reads as an indicator value (≥90%, 100%, 1026人), not as wording."""
    return _VALUE_LIKE.search(text) is not None


def percent_in(text: str) -> Reading | None:
    """The rate a sentence states, ignoring the "×100%" of its formula."""
    without_formula = _FORMULA_100.sub("", text)
    found = _PERCENT.findall(without_formula)
    if not found:
        return None
    return read_number(found[-1])


def score_in(text: str) -> Reading | None:
    """The score a sentence gives ("自评得分为8分", "得分9.9")."""
    found = _SCORE_AFTER_WORD.findall(text)
    if found:
        return read_number(found[-1])
    return None


def grade_in(text: str) -> str | None:
    found = _GRADE.findall(text)
    return found[-1] if found else None


def read_date(text: str | None) -> dt.date | None:
    """An ISO date from "2025.4.14", "2025年4月10日", "20250407"."""
    if not text:
        return None
    compact = re.sub(r"\s+", "", text)
    found = _DATE_PARTS.search(compact) or _COMPACT_DATE.search(compact)
    if not found:
        return None
    year, month, day = (int(part) for part in found.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def read_period(text: str | None) -> str | None:
    """The 项目起止时间 as printed, with a lost dash between merged dates restored."""
    if not text:
        return None
    compact = text.strip()
    squeezed = re.sub(r"[\s()（）]", "", compact).replace(",", ".")
    merged = _MERGED_RANGE.search(squeezed)
    if merged:
        y1, m1, d1, y2, m2, d2 = merged.groups()
        return f"{y1}.{m1}.{d1}—{y2}.{m2}.{d2}"
    return re.sub(r"\s+", "", compact)


def read_year(text: str | None) -> int | None:
    if not text:
        return None
    found = _YEAR.search(text)
    return int(found.group(1)) if found else None


def read_phone(parts: list[str]) -> str | None:
    """Digits of a phone number, joining cells the OCR split ("186353089", "88]")."""
    joined = ""
    for part in parts:
        digits = re.sub(r"[^\d\-]", "", part)
        if not digits:
            break
        joined += digits
        if len(re.sub(r"\D", "", joined)) >= 11:
            break
    return joined if joined and plausible_phone(joined) else None


def plausible_phone(text: str) -> bool:
    """7–8 digits local, 11 mobile, or a 3–4 digit area code before a local number."""
    digits = re.sub(r"\D", "", text)
    return len(digits) in (7, 8, 11) or (digits.startswith("0") and len(digits) in (10, 11, 12))


def split_code(text: str | None) -> tuple[str | None, str | None]:
    """"064-阳泉市民政局" → ("064", "阳泉市民政局"); codes stay strings for their zeros."""
    if not text:
        return None, None
    found = re.match(r"^\s*(\d{2,12})\s*[-－—–]\s*(.+)$", text)
    if found:
        return found.group(1), found.group(2).strip()
    return None, text.strip()


def looks_like_person(text: str) -> bool:
    return bool(_PERSON.match(text.strip()))
