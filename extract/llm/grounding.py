"""Grounding: find every value of an LLM answer in the table text it was read from.

A value that the table prints gets ``evidence`` (the line and its text), exactly as the
rules extractor records it. A value found nowhere is flagged ``extract-ungrounded``:
an invented number must never pass silently. Grounding is deliberately literal:

- numbers match a printed number exactly (after the OCR repairs ``30. 01`` → 30.01 and
  ``1,068`` → 1068, in ``extract.verify.printed_numbers``); the only numbers a form lets
  the reader derive are accepted as such: ``execution_weight`` 10 where none is printed,
  and a category's weight or score that is the sum over its indicators (province form);
- dates match a line that prints year, month and day in that order;
- text matches a substring of the table's cleaned text, compared without whitespace
  and with full-width forms and dashes unified; long texts (≥ ``FUZZY_MIN_CHARS``) may
  match approximately (``rapidfuzz`` partial ratio ≥ ``FUZZY_MIN_SCORE``, the scorer's
  own threshold for "the same paragraph"), and a text the form tells us to join from
  several cells matches part by part;
- a unit or department name may be the full name the document states elsewhere;
- canonical category names (level1/level2) are vocabulary, checked as such, not here.

Lines that read as instructions to a model (prompt injection) are left out of the
search: a value that only such a line supplies is ungrounded.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from rapidfuzz import fuzz

from extract.llm.prompting import TableLine, TableText
from extract.verify import printed_numbers
from schemas.paths import iter_leaves
from schemas.record import Evidence, Flag

FUZZY_MIN_CHARS = 20
FUZZY_MIN_SCORE = 90.0
DEFAULT_EXECUTION_WEIGHT = Decimal(10)
UNGROUNDED_RULE = "extract-ungrounded"
EVIDENCE_CHARS = 300

How = Literal["exact", "fuzzy", "joined", "derived", "default", "known-name", "canonical"]
_SKIPPED = frozenset({"format_version", "template", "source"})
_CANONICAL = re.compile(r"^(indicators\[\d+\]\.level[12]|category_scores\[\d+\]\.level1)$")
_NAME_FIELDS = frozenset({"department", "implementing_unit"})
_STRICT_TEXT = re.compile(r"(^|\.)(phone|department_code|implementing_unit_code)$")
_DASHES = re.compile(r"[‐‑‒–—―−~〜～]")
_SPACE = re.compile(r"\s+")
_JOINERS = re.compile(r"[\n；;]")
_GRADE_CONTEXT = "(等级|等次|档次|评定|评价|结论|自评|评为|定为|结果)"
_DATE = re.compile(r"(\d{4})[年./-](\d{1,2})[月./-](\d{1,2})|(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)")


def cell_numbers(cell: str) -> list[Decimal]:
    """The numbers a cell prints, unsigned; "14,256" also as 14.256 (a decimal comma is common OCR)."""
    numbers = [number.copy_abs() for number, _ in printed_numbers(cell)]
    if "," in cell or "，" in cell:
        numbers += [number.copy_abs() for number, _ in printed_numbers(cell.replace(",", ".").replace("，", "."))]
    return numbers


def normalise(text: str) -> str:
    """Comparable text: NFKC, no whitespace, every dash and tilde one character."""
    return _DASHES.sub("-", _SPACE.sub("", unicodedata.normalize("NFKC", text)))


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(repr(float(value))).copy_abs()
    except (InvalidOperation, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Grounding:
    """Where one value was found, and how."""

    path: str
    value: Any
    how: How | None
    evidence: Evidence | None = None
    only_in_instruction: int | None = None
    """The line of instruction-like text that alone prints the value, if any."""

    @property
    def grounded(self) -> bool:
        return self.how is not None


class TableIndex:
    """The table's printed numbers and text, searchable, with the lines they sit on."""

    def __init__(self, table: TableText, known_names: Mapping[str, int | None] | None = None) -> None:
        self.table = table
        trusted = [line for line in table.lines if not line.instruction_like]
        self.suspect = [line for line in table.lines if line.instruction_like]
        self._numbers = self._number_index(trusted)
        self._suspect_numbers = self._number_index(self.suspect)
        self._flat, self._owners = self._flat_text(trusted)
        self._suspect_flat, self._suspect_owners = self._flat_text(self.suspect)
        self._lines = {line.number: line for line in table.lines}
        self.known_names = {normalise(name): line for name, line in (known_names or {}).items()}

    @staticmethod
    def _number_index(lines: Iterable[TableLine]) -> list[tuple[int, list[Decimal]]]:
        return [(line.number, [number for cell in line.cells for number in cell_numbers(cell)]) for line in lines]

    @staticmethod
    def _flat_text(lines: Iterable[TableLine]) -> tuple[str, list[int]]:
        pieces: list[str] = []
        owners: list[int] = []
        for line in lines:
            for cell in line.cells:
                key = normalise(cell)
                pieces.append(key)
                owners.extend([line.number] * len(key))
        return "".join(pieces), owners

    def evidence(self, line: int) -> Evidence:
        text = self._lines[line].text if line in self._lines else ""
        return Evidence(line=line, text=text[:EVIDENCE_CHARS] or "(line outside the table)")

    def find_number(self, value: Any) -> int | None:
        target = _decimal(value)
        if target is None:
            return None
        return next((line for line, numbers in self._numbers if target in numbers), None)

    def number_in_instruction(self, value: Any) -> int | None:
        target = _decimal(value)
        return next((line for line, numbers in self._suspect_numbers if target in numbers), None)

    def find_date(self, value: dt.date) -> int | None:
        for line in self.table.lines:
            if line.instruction_like:
                continue
            for found in _DATE.finditer(normalise(" ".join(line.cells))):
                if tuple(int(part) for part in found.groups() if part) == (value.year, value.month, value.day):
                    return line.number
        return None

    def find_text(self, value: str) -> tuple[int, How] | None:
        key = normalise(value)
        if not key:
            return None
        position = self._flat.find(key)
        if position >= 0:
            return self._owners[position], "exact"
        if len(key) >= FUZZY_MIN_CHARS:
            found = fuzz.partial_ratio_alignment(key, self._flat, score_cutoff=FUZZY_MIN_SCORE)
            if found is not None:
                return self._owners[min(found.dest_start, len(self._owners) - 1)], "fuzzy"
        parts = [part for part in _JOINERS.split(value) if len(normalise(part)) >= 2]
        if len(parts) > 1:
            lines = [self.find_text(part) for part in parts]
            if all(lines):
                return lines[0][0], "joined"  # type: ignore[index]
        return None

    def text_lines(self, value: str) -> list[int]:
        """Every line on which the text is printed (exact matches)."""
        key = normalise(value)
        lines: list[int] = []
        start = self._flat.find(key) if key else -1
        while start >= 0:
            if self._owners[start] not in lines:
                lines.append(self._owners[start])
            start = self._flat.find(key, start + 1)
        return lines

    def printed_on(self, value: Any, lines: set[int]) -> bool:
        """Is the value printed on one of these lines (a row's own cells)?"""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            target = _decimal(value)
            return any(target in numbers for line, numbers in self._numbers if line in lines)
        key = normalise(str(value))
        window = "".join(normalise(cell) for line in self.table.lines if line.number in lines
                         and not line.instruction_like for cell in line.cells)
        if not key or not window:
            return False
        if key in window:
            return True
        return len(key) >= FUZZY_MIN_CHARS and fuzz.partial_ratio(key, window) >= FUZZY_MIN_SCORE

    def text_in_instruction(self, value: str) -> int | None:
        key = normalise(value)
        position = self._suspect_flat.find(key) if key else -1
        return self._suspect_owners[position] if position >= 0 else None

    def find_grade(self, grade: str) -> int | None:
        pattern = re.compile(rf"{_GRADE_CONTEXT}[^。;；]{{0,12}}?{grade}|^{grade}(秀|等|级)?$"
                             rf"|(?<!分)为[\"“]?{grade}(秀|等|级)?[\"”]?([。;；,，]|$)")
        for line in self.table.lines:
            if line.instruction_like:
                continue
            if any(pattern.search(normalise(cell)) for cell in line.cells):
                return line.number
        return None


def _kind(path: str, value: Any) -> Literal["number", "date", "code", "text"]:
    if isinstance(value, bool):
        return "text"
    if isinstance(value, (int, float)):
        return "number"
    if path == "fill_date":
        return "date"
    if _STRICT_TEXT.search(path):
        return "code"
    return "text"


def _derived_category(path: str, value: Any, data: dict[str, Any]) -> bool:
    """A category weight/score that is the sum over the indicators of its level1 (province form)."""
    found = re.fullmatch(r"category_scores\[(\d+)\]\.(weight|score)", path)
    if not found:
        return False
    categories = data.get("category_scores") or []
    index, key = int(found.group(1)), found.group(2)
    level1 = categories[index].get("level1") if index < len(categories) else None
    parts = [indicator.get(key) for indicator in data.get("indicators") or [] if indicator.get("level1") == level1]
    if not parts or any(part is None for part in parts):
        return False
    total = sum((Decimal(repr(float(part))) for part in parts), Decimal(0))
    return _decimal(value) == total.copy_abs()


def ground_value(path: str, value: Any, data: dict[str, Any], index: TableIndex) -> Grounding:
    """Locate one leaf value (``data`` is the whole answer, for the derived cases)."""
    if _CANONICAL.match(path):
        return Grounding(path, value, "canonical")
    kind = _kind(path, value)
    if kind == "number":
        line = index.find_number(value)
        if line is not None:
            return Grounding(path, value, "exact", index.evidence(line))
        if path == "execution_weight" and _decimal(value) == DEFAULT_EXECUTION_WEIGHT:
            return Grounding(path, value, "default")
        if _derived_category(path, value, data):
            return Grounding(path, value, "derived")
        return Grounding(path, value, None, only_in_instruction=index.number_in_instruction(value))
    if kind == "date":
        try:
            date = dt.date.fromisoformat(str(value))
        except ValueError:
            return Grounding(path, value, None)
        line = index.find_date(date)
        return Grounding(path, value, "exact" if line else None, index.evidence(line) if line else None)
    text = str(value)
    if path == "grade" and text in ("优", "良", "中", "差"):
        line = index.find_grade(text)
        return Grounding(path, value, "exact" if line else None, index.evidence(line) if line else None)
    found = index.find_text(text)
    if found is not None and (kind != "code" or found[1] == "exact"):
        return Grounding(path, value, found[1], index.evidence(found[0]))
    if path in _NAME_FIELDS and normalise(text) in index.known_names:
        line = index.known_names[normalise(text)]
        evidence = Evidence(line=line, text=f"{text}（全称见第{line}行）") if line else None
        return Grounding(path, value, "known-name", evidence)
    return Grounding(path, value, None, only_in_instruction=index.text_in_instruction(text))


ROW_FIELDS = ("target", "adjusted_target", "actual", "weight", "score")
ROW_REACH = 0
"""A row's values may sit up to this many lines from its name (cells wrapped by the OCR)."""


def off_row_fields(data: dict[str, Any], index: TableIndex, position: int) -> list[str] | None:
    """The fields of indicator ``position`` printed in the table but not on its own row.

    None when the row cannot be placed (its name is not printed); [] when every printed
    value sits on the row. A value printed nowhere is grounding's business, not this one's.
    """
    indicator = (data.get("indicators") or [])[position]
    name = indicator.get("name")
    lines = index.text_lines(name) if name else []
    if not lines:
        return None
    window = {line + offset for line in lines for offset in range(-ROW_REACH, ROW_REACH + 1)}
    off = []
    for key in ROW_FIELDS:
        value = indicator.get(key)
        path = f"indicators[{position}].{key}"
        if value is None or index.printed_on(value, window):
            continue
        if ground_value(path, value, data, index).grounded:
            off.append(path)
    return off


def printed_level2(data: dict[str, Any], index: TableIndex, position: int) -> tuple[int, str] | None:
    """(line, category) when the indicator's own row prints exactly one second-level category label.

    Rows that print none inherit their category from a merged cell above and are not judged here.
    """
    from extract.match import canonical_level2

    name = ((data.get("indicators") or [])[position]).get("name")
    lines = index.text_lines(name) if name else []
    if len(lines) != 1:
        return None
    row = next((line for line in index.table.lines if line.number == lines[0]), None)
    labels = set()
    for cell in row.cells if row is not None else ():
        if cell.strip() and normalise(cell) != normalise(name):
            found = canonical_level2(cell)
            if found is not None and not found.weak:
                labels.add(found.canonical)
    return (lines[0], labels.pop()) if len(labels) == 1 else None


def ground(data: dict[str, Any], index: TableIndex) -> dict[str, Grounding]:
    """Every non-null leaf of an answer or record dump (JSON mode), located in the table."""
    found: dict[str, Grounding] = {}
    for path, value in iter_leaves(data):
        if value is None or value == [] or value == {} or path.split(".")[0].split("[")[0] in _SKIPPED:
            continue
        found[path] = ground_value(path, value, data, index)
    return found


def severity_of(path: str, value: Any) -> Literal["error", "warning"]:
    """An invented number, date or code is an error; unmatched wording is a warning."""
    return "warning" if _kind(path, value) == "text" else "error"


def describe_ungrounded(grounding: Grounding, table: TableText) -> str:
    if grounding.only_in_instruction is not None:
        return (f"{grounding.path} = {grounding.value!r} appears only in line {grounding.only_in_instruction}, "
                "which reads as an instruction to a model, not as table content")
    return (f"{grounding.path} = {grounding.value!r} is not printed in the table text "
            f"(lines {table.start_line}–{table.end_line})")


def ungrounded_flags(found: Mapping[str, Grounding], table: TableText) -> list[Flag]:
    """One ``extract-ungrounded`` flag per value found nowhere in the table."""
    flags = []
    for grounding in found.values():
        if grounding.grounded:
            continue
        flags.append(Flag(rule=UNGROUNDED_RULE, severity=severity_of(grounding.path, grounding.value),
                          fields=[grounding.path], message=describe_ungrounded(grounding, table) +
                          "; the model may have invented it",
                          values={grounding.path: grounding.value}))
    return flags


def evidence_of(found: Mapping[str, Grounding]) -> dict[str, Evidence]:
    return {path: grounding.evidence for path, grounding in found.items() if grounding.evidence is not None}
