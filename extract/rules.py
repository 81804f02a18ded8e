"""Stage 4a, the rules extractor: a cleaned grid to a record, by label matching.

Nothing here indexes cells by a fixed column or line offset: the same logical
row starts at col0 in one table and col2 in the next, labels fuse with their
values, values wander. Cells are classified by content (a field label from the
template's vocabulary, an indicator category, a 指标N numbering, a number, a
text), and values are taken relative to the label or the indicator name that
anchors them. Whatever had to be guessed is flagged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache

from extract.clean import Cell, Grid, Row
from extract.draft import Draft
from extract.match import (
    Match,
    canonical_level1,
    canonical_level2,
    level1_of,
    match_label,
    normalise,
    strip_weight,
)
from extract.values import (
    grade_in,
    is_numeric_cell,
    looks_like_person,
    looks_like_value,
    percent_in,
    read_date,
    read_number,
    read_period,
    read_phone,
    read_year,
    score_in,
    split_code,
)
from schemas.record import CategoryScore, Indicator, Record

_HAN_CHAR = re.compile(r"[\u4e00-\u9fff]")
_PLACEHOLDER = re.compile(r"^[.…。·\-—\s]*$")
_GRADES = {"优", "良", "中", "差"}
_HEADER_WORDS = ("一级指标", "二级指标", "三级指标")


def extract_rules(grid: Grid) -> Record:
    """The rules extractor's record for one table; every template has its own reader."""
    reader = _READERS.get(grid.template, _read_other)
    draft = Draft(grid, backend="rules")
    if not grid.rows:
        draft.doubt("source", "the table span holds no readable rows", kind="empty-table", severity="error")
        return draft.finish()
    wording_hits: list[tuple[Row, LabelHit]] = []
    token = _WORDING_HITS.set(wording_hits)
    try:
        reader(grid, draft)
    finally:
        _WORDING_HITS.reset(token)
    _flag_values_of_unknown_labels(draft, wording_hits)
    _flag_missing(draft)
    return draft.finish()


_WORDING_HITS: ContextVar[list[tuple[Row, LabelHit]] | None] = ContextVar("_WORDING_HITS", default=None)
"""Labels the current extraction knew only by their wording; their values get a flag."""


def _flag_values_of_unknown_labels(draft: Draft, hits: list[tuple[Row, LabelHit]]) -> None:
    """A value read under a label no known variant matched is flagged: the label may be misread."""
    for row, hit in hits:
        following = next((cell.text for cell in row.cells[hit.index + hit.span:] if cell.text), None)
        candidates = {text for text in (hit.remainder, following) if text}
        if hit.remainder:
            candidates.add(hit.cell.text)  # a fused "label：value" cell is cited whole
        for path, evidence in list(draft.record.evidence.items()):
            if evidence.line == hit.cell.line and any(evidence.text.startswith(text[:20]) for text in candidates):
                draft.doubt(path, f"read under '{hit.cell.text}', a label known only by its wording "
                            f"(taken as {hit.key})", kind="unknown-label", label=hit.cell.text)


_DEPARTMENT = "department-overall"
"""The department-overall form (部门整体支出绩效自评表), read as template ``other``."""
_EXPECTED: dict[str, tuple[str, ...]] = {
    "city-project": ("project_name", "department", "implementing_unit", "project_lead", "phone", "period",
                     "eval_year", "fill_date", "funds.planned.total", "funds.received.total", "funds.executed.total",
                     "execution_rate", "execution_score", "total_score", "grade", "goals.output", "goals.effect",
                     "narrative.conclusion", "narrative.experience", "narrative.problems"),
    "province-project": ("project_name", "department", "department_code", "implementing_unit",
                         "implementing_unit_code", "eval_year", "funds.planned.total", "funds.executed.total",
                         "funds.declared", "funds.initial", "funds.balance", "execution_rate", "execution_score",
                         "total_score", "grade", "goals.annual", "goals.achieved", "narrative.conclusion",
                         "narrative.experience", "narrative.problems", "narrative.next_steps"),
    "transfer-payment": ("project_name", "department", "implementing_unit", "eval_year", "funds.planned.total",
                         "funds.executed.total", "execution_rate", "goals.annual", "goals.achieved"),
    "other": ("project_name", "department", "eval_year"),
    _DEPARTMENT: ("department", "eval_year", "funds.planned.total", "funds.executed.total", "execution_rate",
                       "total_score"),
}
_CITY_LEVEL1 = ("产出指标", "效益指标", "满意度指标")


def _flag_missing(draft: Draft) -> None:
    """A field the form prints but the extractor did not find is flagged, never left silently null."""
    record = draft.record
    for path in _EXPECTED.get(draft.form or record.template, ()):
        if not draft.has(path):
            draft.doubt(path, f"{path} not found in the table", kind="missing-value")
    if not record.indicators:
        draft.doubt("indicators", "no indicator rows were read", kind="missing-value")
    if record.template == "city-project" and not any(indicator.weight is not None for indicator in record.indicators):
        present = {score.level1 for score in record.category_scores}
        for level1 in _CITY_LEVEL1:
            if level1 not in present:
                draft.doubt("category_scores", f"no subtotal found for {level1}", kind="missing-value",
                            level1=level1)
        for position, score in enumerate(record.category_scores):
            if score.weight is None:
                draft.doubt(f"category_scores[{position}].weight", f"no weight printed for {score.level1}",
                            kind="missing-value")


# ----------------------------------------------------------------------------------------------
# shared pieces


@dataclass
class LabelHit:
    key: str
    match: Match
    index: int
    cell: Cell
    span: int = 1

    @property
    def remainder(self) -> str:
        return self.match.remainder


def find_labels(row: Row, template: str, *, keys: set[str] | None = None, threshold: float = 85.0) -> list[LabelHit]:
    """Label cells of a row, joining a label the OCR split over two cells ("联 | 系电话")."""
    hits: list[LabelHit] = []
    cells = row.cells
    index = 0
    while index < len(cells):
        cell = cells[index]
        text = cell.text
        if not text or len(normalise(text)) > 40 and not _starts_with_label(text, template, keys):
            index += 1
            continue
        found = _label(text, template, keys, threshold)
        span = 1
        if found is not None and index + 1 < len(cells) and _HAN_CHAR.search(cells[index + 1].text) \
                and len(normalise(found.remainder if found.remainder else cells[index + 1].text)) <= 4:
            # "主管部门及 | 代码", "主管部门 | 及代码": a longer label split over two cells
            joined = _label(text + cells[index + 1].text, template, keys, threshold)
            if joined is not None and not joined.remainder and not joined.by_wording \
                    and (len(joined.variant) > len(found.variant) or joined.score > found.score):
                found, span = joined, 2
        if (found is None and index + 1 < len(cells) and len(normalise(text)) <= 4 and cells[index + 1].text
                and _HAN_CHAR.search(text)
                and _label(cells[index + 1].text, template, keys, threshold) is None):
            joined = text + cells[index + 1].text
            found = _label(joined, template, keys, threshold)
            span = 2 if found else 1
        while found is not None:
            hit = LabelHit(found.canonical, found, index, cell, span)
            hits.append(hit)
            wording_hits = _WORDING_HITS.get()
            if found.by_wording and wording_hits is not None:
                wording_hits.append((row, hit))
            following = _label(found.remainder, template, keys, threshold) if found.remainder else None
            if following is None or not (following.score >= 90 or following.by_wording and not following.remainder):
                break
            hit.match = Match(found.canonical, found.score, found.variant, remainder="")
            found = following
        index += span
    return hits


def _starts_with_label(text: str, template: str, keys: set[str] | None) -> bool:
    """A long cell that opens with a label: a known variant, or a label-length head before a colon."""
    found = match_label(text[:40], template, threshold=100)
    if found is None:
        worded = match_label(text[:40], template)
        found = worded if worded is not None and worded.by_wording and worded.remainder else None
    return found is not None and (keys is None or found.canonical in keys)


def _label(text: str, template: str, keys: set[str] | None, threshold: float) -> Match | None:
    found = match_label(text, template, threshold=threshold)
    if found is None or (keys is not None and found.canonical not in keys):
        return None
    if found.remainder and len(normalise(found.variant)) < 3 and found.canonical not in ("line_city", "line_other"):
        return None
    return found


def value_after(row: Row, hit: LabelHit, *, stop_keys: set[str] | None = None, template: str = "") -> Cell | None:
    """The value of a label: its fused remainder, else the next non-empty cell that is not a label."""
    if hit.remainder:
        return Cell(hit.remainder, hit.cell.line, hit.cell.col)
    for cell in row.cells[hit.index + hit.span:]:
        if not cell.text:
            continue
        if template and match_label(cell.text, template, threshold=92) is not None:
            return None
        return cell
    return None


_HAN_VALUED = {"project_name", "project_lead", "department", "implementing_unit"}
_DIGIT_VALUED = {"period", "phone", "fill_date"}


def joined_value_after(row: Row, hit: LabelHit, template: str) -> Cell | None:
    """A value the OCR split over adjacent cells ("评审 | 中心工作运行费", "2024. | 01. 012024. 12. 31"),
    skipping border junk that cannot be this field's value (a lone "1" where a name belongs)."""
    if hit.remainder:
        return Cell(hit.remainder, hit.cell.line, hit.cell.col)
    parts: list[Cell] = []
    for cell in row.cells[hit.index + hit.span:]:
        if not cell.text:
            if parts:
                break
            continue
        if match_label(cell.text, template, threshold=90) is not None or _is_form_word(cell.text):
            break
        if not parts and hit.key in _HAN_VALUED and not _HAN_CHAR.search(cell.text):
            continue
        if parts and hit.key in _DIGIT_VALUED and not re.fullmatch(r"[\d\s.,\-—/()（）年月日至\]\[]+", cell.text):
            break
        parts.append(cell)
        if hit.key not in _DIGIT_VALUED and hit.key not in ("project_name", "implementing_unit"):
            break
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return Cell("".join(part.text for part in parts), parts[0].line, parts[0].col)


def value_below(next_row: Row, hit: LabelHit) -> Cell | None:
    """A value the OCR put on the line under its label, in the label's column or the next."""
    if find_labels(next_row, "other", threshold=92):
        return None
    for cell in next_row.cells:
        if cell.text and hit.cell.col <= cell.col <= hit.cell.col + 2:
            return cell
    return None


def _continued(text: str, cell: Cell, following: list[Row]) -> str:
    """A text cell the OCR wrapped onto the next rows: each continuation row has an empty
    label column and one text, in the same column as the text it continues."""
    for row in following:
        cells = row.nonempty()
        if len(cells) != 1 or row.cells[0].text or cells[0].col != cell.col or is_numeric_cell(cells[0].text):
            break
        text += cells[0].text
    return text


def _text_after(row: Row, start: int) -> tuple[str, Cell | None]:
    parts = [cell for cell in row.cells[start:] if cell.text]
    if not parts:
        return "", None
    return "".join(cell.text for cell in parts), parts[0]


def _section_rows(grid: Grid, start: int, stop: Callable[[Row], bool]) -> list[Row]:
    rows: list[Row] = []
    for row in grid.rows[start:]:
        if stop(row):
            break
        rows.append(row)
    return rows


_HEADER_VALUE_WORDS = ("指标值", "完成值", "自评得分", "未完成原因", "得分", "分值", "考核值")


def _is_indicator_header(row: Row) -> bool:
    text = normalise(row.joined())
    words = sum(word in text for word in _HEADER_WORDS)
    if words >= 2:
        return True
    return words + sum(word in text for word in _HEADER_VALUE_WORDS) >= 3 \
        and not re.search(r"指\s*标\s*\d", row.joined())


def _is_total_row(row: Row) -> bool:
    first = next((cell.text for cell in row.cells if cell.text), "")
    key = normalise(first)
    return key.startswith(("总分", "总计")) and not key.startswith("总分设") and len(key) <= 12


# ----------------------------------------------------------------------------------------------
# indicators (all templates)


@dataclass
class IndicatorRow:
    row: Row
    level1: Match | None = None
    level1_cell: Cell | None = None
    level1_weight: float | None = None
    level2: Match | None = None
    level2_cell: Cell | None = None
    numbered: bool = False
    values: list[Cell] = field(default_factory=list)
    loose_weight: float | None = None
    loose_weight_cell: Cell | None = None
    unknown_level1: Cell | None = None


def classify_indicator_row(row: Row) -> IndicatorRow:
    """Split a row into category labels, numbering and the value cells after them.

    The 指标N numbering anchors the row when printed: everything before it is
    category labels or border junk, the name is the first cell after it. Rows
    without numbering (the province form) start their values at the first cell
    that is neither a category label nor a lone fragment.
    """
    parsed = IndicatorRow(row)
    cells = list(row.cells)
    numbering_at = None
    for index, cell in enumerate(cells):
        found = _NUMBERING_ANYWHERE.search(cell.text) if len(normalise(cell.text)) <= 40 else None
        if found and (found.start() == 0 or len(cell.text[:found.start()].strip()) <= 3):
            numbering_at = index
            parsed.numbered = True
            rest = cell.text[found.end():].strip()
            if rest:
                cells[index] = Cell(rest, cell.line, cell.col)
                parsed.values = cells[index:]
            else:
                parsed.values = cells[index + 1:]
            break
    label_region = cells[:numbering_at] if numbering_at is not None else cells
    tokens: list[tuple[str, Match, Cell, float | None]] = []
    value_start = None
    for index, cell in enumerate(label_region):
        if not cell.text:
            continue
        found = category_tokens(cell.text)
        complete = any(kind == "level1" for kind, *_ in tokens) and any(kind == "level2" for kind, *_ in tokens)
        if found and not (complete and numbering_at is None):
            tokens.extend((kind, match, cell, weight) for kind, match, weight in found)
            continue
        label, weight = strip_weight(cell.text)
        if weight is not None and normalise(label) in _LEVEL_FRAGMENTS | {""} and parsed.loose_weight is None:
            parsed.loose_weight, parsed.loose_weight_cell = weight, cell
            continue
        if weight is not None and numbering_at is not None and _HAN_CHAR.search(label):
            parsed.unknown_level1 = cell
            continue
        if numbering_at is None and not _is_label_fragment(cell.text):
            value_start = index
            break
    if numbering_at is None:
        parsed.values = cells[value_start:] if value_start is not None else []
    _assign_levels(parsed, tokens)
    if parsed.level1 is not None and parsed.level1_weight is None and parsed.loose_weight is not None:
        parsed.level1_weight, parsed.loose_weight = parsed.loose_weight, None
    return parsed


_NUMBERING_ANYWHERE = re.compile(r"指\s*标\s*(?:\d+|项(?!目))\s*[:：.]?")
_LEVEL_FRAGMENTS = {"绩效指标", "绩效", "指标", "绩", "效", "指", "标", "绩效指", "效指标"}


def _is_label_fragment(text: str) -> bool:
    """Vertical-label residue ("绩", "效指标") and border junk ("1", "-", "N") before the values."""
    key = normalise(strip_weight(text)[0])
    if not key or key in _LEVEL_FRAGMENTS:
        return True
    return len(key) <= 2 and not re.search(r"[\u4e00-\u9fff]{2}", key) and not re.search(r"\d{2}|%", key)


def category_tokens(text: str) -> list[tuple[str, Match, float | None]]:
    """Category labels in a cell: one ("数量指标"), fused ("产出指标 数量指标"), or none."""
    label, weight = strip_weight(text)
    key = normalise(label)
    if not key or len(key) > 40:
        return []
    while key.startswith(("绩效", "指标")) and len(key) > 4:
        key = key[2:]
    if key in _LEVEL_FRAGMENTS:
        return []
    level2 = canonical_level2(key) if len(key) <= 12 else None
    level1 = canonical_level1(key) if len(key) <= 12 else None
    if level2 and (level1 is None or level2.score >= level1.score):
        return [("level2", level2, weight)]
    if level1:
        return [("level1", level1, weight)]
    return _fused_categories(key, weight)


@lru_cache(maxsize=None)
def _category_variants(kind: str) -> tuple[tuple[str, str], ...]:
    """(variant, canonical) of one category level, longest first, for finding several in one cell."""
    from extract.match import vocabulary

    categories = vocabulary("categories")[kind]
    pairs = {(normalise(v), c) for c, vs in categories.items() if not c.startswith("_") for v in [c, *vs]
             if len(normalise(v)) >= 4}
    return tuple(sorted(pairs, key=lambda item: (-len(item[0]), item[0])))


def _fused_categories(key: str, weight: float | None) -> list[tuple[str, Match, float | None]]:
    found: list[tuple[int, str, Match]] = []
    taken = [False] * len(key)
    for kind in ("level2", "level1"):
        for variant, canonical in _category_variants(kind):
            start = key.find(variant)
            while start >= 0:
                if not any(taken[start:start + len(variant)]):
                    for position in range(start, start + len(variant)):
                        taken[position] = True
                    found.append((start, kind, Match(canonical, 90.0, variant)))
                start = key.find(variant, start + 1)
    found.sort(key=lambda item: item[0])
    return [(kind, match, weight if index == 0 else None) for index, (_, kind, match) in enumerate(found)]


def _assign_levels(parsed: IndicatorRow, tokens: list[tuple[str, Match, Cell, float | None]]) -> None:
    """Level1 and level2 from the row's category tokens; a level2 name printed in the level1
    column (followed by another level2) stands for its level1."""
    level2_tokens = [token for token in tokens if token[0] == "level2"]
    for kind, match, cell, weight in tokens:
        if kind == "level1" and parsed.level1 is None:
            parsed.level1, parsed.level1_cell, parsed.level1_weight = match, cell, weight
    if len(level2_tokens) >= 2 and parsed.level1 is None:
        first = level2_tokens[0]
        second = level2_tokens[1]
        if first[1].canonical == "成本指标" and second[1].canonical.endswith("成本指标"):
            implied = "成本指标"
        else:
            implied = level1_of(first[1].canonical)
        if implied:
            parsed.level1 = Match(implied, min(first[1].score, 85.0), first[1].variant)
            parsed.level1_cell, parsed.level1_weight = first[2], first[3]
            level2_tokens = level2_tokens[1:]
    if level2_tokens:
        kind, match, cell, weight = level2_tokens[-1] if len(level2_tokens) > 1 else level2_tokens[0]
        parsed.level2, parsed.level2_cell = match, cell


def _is_placeholder(text: str) -> bool:
    """Empty, dots, or OCR debris with no Chinese in it: no indicator is named like that."""
    return not text or bool(_PLACEHOLDER.match(text)) or not _HAN_CHAR.search(text)


def _score_like(text: str) -> float | None:
    if not is_numeric_cell(text):
        return None
    reading = read_number(text)
    if reading is None or reading.value < 0 or reading.value > 100:
        return None
    return reading.value


@dataclass
class Block:
    """One 一级指标 block of the indicator table."""

    level1: str | None
    weight: float | None
    label_cell: Cell | None
    score_cells: list[tuple[Cell, float]] = field(default_factory=list)
    indicator_indexes: list[int] = field(default_factory=list)
    score_rows: list[int] = field(default_factory=list)
    moved: bool = False


# ----------------------------------------------------------------------------------------------
# city form


def _read_city(grid: Grid, draft: Draft) -> None:
    template = "city-project"
    header_index = _indicator_header_index(grid.rows, template)
    head_end = header_index if header_index is not None else len(grid.rows)
    _read_city_head(grid.rows[:head_end], draft, grid)
    if header_index is None:
        draft.doubt("indicators", "no indicator header row (一级指标 二级指标 三级指标) was found", kind="missing-section")
        tail_start = head_end
    else:
        total_index = next((i for i in range(header_index + 1, len(grid.rows)) if _is_total_row(grid.rows[i])), None)
        body_end = total_index if total_index is not None else _first_narrative(grid.rows, header_index + 1, template)
        body = grid.rows[header_index + 1:body_end]
        tail_start = body_end
        if total_index is not None:
            narrative_start = _first_narrative(grid.rows, total_index + 1, template)
            trailing = grid.rows[total_index + 1:narrative_start]
            if sum(bool(_NUMBERING_ANYWHERE.search(row.joined())) for row in trailing) >= 2:
                body = body + list(reversed(trailing))
                tail_start = narrative_start
                draft.doubt("indicators", "indicator rows printed after 总分 were read in reverse order "
                            "(a page the OCR read bottom-up)", kind="reversed-rows")
        if _prints_indicator_scores(grid.rows[header_index]):
            _read_weighted_indicators(body, draft, adjusted_column=False)
            draft.record.category_scores = []  # the city form records printed subtotals only
        else:
            leftovers = _header_leftovers(grid.rows[header_index])
            _read_city_indicators([leftovers, *body] if leftovers else body, draft)
        if total_index is not None:
            _read_total(grid.rows[total_index:total_index + 2], draft)
        else:
            draft.doubt("total_score", "no 总分 row was found", kind="missing-value")
    _read_city_narrative(grid.rows[tail_start:], draft)
    if draft.record.grade is None and draft.record.narrative.conclusion:
        stated = grade_in(draft.record.narrative.conclusion)
        if stated:
            draft.put("grade", stated, draft_cell(draft, "narrative.conclusion"))


def _indicator_header_index(rows: list[Row], template: str) -> int | None:
    """The row that heads the indicator table: the printed header, or, where the OCR invented
    the header's words, the row under 绩效目标自评情况, or the row before the first 指标N."""
    found = next((i for i, row in enumerate(rows) if _is_indicator_header(row)), None)
    if found is not None:
        return found
    section = next((i for i, row in enumerate(rows)
                    if any(hit.key == "indicator_section" for hit in find_labels(row, template))), None)
    if section is not None:
        following = rows[section + 1] if section + 1 < len(rows) else None
        if following is not None and not _NUMBERING_ANYWHERE.search(following.joined()) \
                and not any(category_tokens(cell.text) for cell in following.cells if cell.text):
            return section + 1
        return section
    numbered = next((i for i, row in enumerate(rows) if _NUMBERING_ANYWHERE.search(row.joined())), None)
    return numbered - 1 if numbered else None


def _prints_indicator_scores(header: Row) -> bool:
    """A city table whose header gives every indicator its own 分值 and 得分 columns (and no
    subtotal column): its rows are read like the province form's."""
    keys = {normalise(cell.text) for cell in header.cells if cell.text}
    return "分值" in keys and bool(keys & {"得分", "自评得分", "评分"})


_TRAILING_SCORE = re.compile(r"(?:得分|分值|自评分)\s*(\d+(?:\.\d+)?)\s*分?$")


def _header_leftovers(row: Row) -> Row | None:
    """What the OCR fused into the header row from the first block: its 一级指标 label
    ("产出指标 (50分)" in place of 一级指标) and its subtotal ("自评得分 45"), as a row of its own.
    A header holding a 二级指标 name too is one the OCR invented, not a fused one."""
    cells: list[Cell] = []
    labelled = False
    for cell in row.cells:
        kinds = [kind for kind, *_ in category_tokens(cell.text)] if cell.text else []
        score = _TRAILING_SCORE.search(cell.text)
        if "level2" in kinds:
            return None  # category names standing in for the header's words: an invented header
        if "level1" in kinds and strip_weight(cell.text)[1] is not None:
            labelled = True
            cells.append(cell)
        elif score:
            cells.append(Cell(score.group(1), cell.line, cell.col))
        else:
            cells.append(Cell("", cell.line, cell.col))
    return Row(row.line, cells, row.raw) if labelled else None


def draft_cell(draft: Draft, path: str) -> Cell | None:
    evidence = draft.record.evidence.get(path)
    return Cell(evidence.text, evidence.line, 0) if evidence else None


def _first_narrative(rows: list[Row], start: int, template: str) -> int:
    for index in range(start, len(rows)):
        hits = find_labels(rows[index], template, keys={"conclusion", "experience", "problems", "footnote"})
        if hits and hits[0].index <= 1:
            return index
    return len(rows)


_CITY_SIMPLE = ("project_name", "project_lead", "phone", "department", "implementing_unit", "period", "eval_year",
                "fill_date")
_FUND_TOTALS = {"funds_planned": "planned", "funds_received": "received", "funds_executed": "executed"}
_FUND_LINES = {"line_central_provincial": "central_provincial", "line_city": "city", "line_county": "county",
               "line_other": "other"}
_FUND_COLUMNS = ("planned", "received", "executed")


def _read_city_head(rows: list[Row], draft: Draft, grid: Grid) -> None:
    template = "city-project"
    unlabeled_name: Cell | None = None
    seen_funds = False
    seen_execution = False
    execution_label: LabelHit | None = None
    goal_rows: list[tuple[Row, list[LabelHit]]] = []
    for row in rows:
        hits = find_labels(row, template)
        keys = [hit.key for hit in hits]
        if any(key in _FUND_TOTALS or key in _FUND_LINES for key in keys):
            _read_fund_row(row, hits, draft)
            seen_funds = True
            continue
        if "execution" in keys:
            hit = hits[keys.index("execution")]
            goal_after = [other for other in hits if other.key in ("goal_output", "goal_effect") and other.index > hit.index]
            if goal_after and not hit.remainder:
                # "项目执行情况 (10分) | 项目效果 | text": a goal row under the execution label; its
                # statement (预算执行率…) is the next row
                goal_rows.append((row, goal_after))
                execution_label = hit
                continue
            _read_execution(row, hit, draft)
            seen_execution = True
            continue
        if seen_funds and not seen_execution and _states_execution(row):
            _read_execution(row, _first_cell_hit(row), draft, label=execution_label)
            seen_execution = True
            continue
        if seen_funds and not seen_execution and not any(key in _CITY_SIMPLE for key in keys):
            goal_rows.append((row, hits))
            continue
        if not hits:
            if unlabeled_name is None and not draft.has("project_name"):
                candidate = _unlabeled_name(row)
                if candidate is not None:
                    unlabeled_name = candidate
            continue
        for hit in hits:
            if hit.key not in _CITY_SIMPLE:
                continue
            cell = joined_value_after(row, hit, template)
            if cell is None:
                continue
            _put_simple(draft, hit.key, cell, row)
    _read_city_goals(goal_rows, draft)
    _settle_project_name(draft, unlabeled_name)


def _unlabeled_name(row: Row) -> Cell | None:
    cells = row.nonempty()
    if len(cells) != 1:
        return None
    text = cells[0].text
    key = normalise(text)
    if len(key) < 4 or len(key) > 60 or read_date(text) or "自评表" in key or key.startswith(("附件", "附录")):
        return None
    if is_numeric_cell(text):
        return None
    return cells[0]


def _put_simple(draft: Draft, key: str, cell: Cell, row: Row) -> None:
    text = cell.text
    if key in ("project_name", "project_lead", "implementing_unit", "department") and draft.has(key):
        return
    if key == "phone":
        tail = [c.text for c in row.cells[row.cells.index(cell):]] if cell in row.cells else [text]
        phone = read_phone(tail)
        if phone is None and re.search(r"\d{5}", text):
            draft.doubt("phone", f"'{' '.join(tail[:2])}' is not a phone number of a possible length",
                        kind="unreadable", value=text)
        draft.put("phone", phone, cell)
    elif key == "department":
        code, name = split_code(text)
        draft.put("department", name, cell)
        draft.put("department_code", code, cell)
    elif key == "implementing_unit":
        code, name = split_code(text)
        draft.put("implementing_unit", name, cell)
        draft.put("implementing_unit_code", code, cell)
    elif key == "period":
        draft.put("period", read_period(text), cell)
    elif key == "eval_year":
        draft.put("eval_year", read_year(text), cell)
    elif key == "fill_date":
        date = read_date(text)
        if date is None and text:
            draft.doubt("fill_date", f"填报日期 '{text}' is not a date", kind="unreadable", value=text)
        draft.put("fill_date", date, cell)
    elif key in ("project_name", "project_lead"):
        _put_name_or_person(draft, key, cell)


def _is_form_word(text: str) -> bool:
    """A cell that is itself a label of some form (预算数, 项目负责人) cannot be a field's value."""
    key = normalise(text)
    if len(key) < 2 or len(key) > 12:
        return False
    for template in ("city-project", "province-project", "transfer-payment", "other"):
        found = match_label(key, template, threshold=95)
        if found is not None and not found.remainder:
            return True
    return key in ("预算数", "执行数", "到位数")


_ORG_SUFFIXES = ("局", "中心", "院", "站", "会", "所", "馆", "委员会", "办公室", "厅")


def _looks_like_org(text: str) -> bool:
    key = normalise(text)
    return 4 <= len(key) <= 40 and key.endswith(_ORG_SUFFIXES) and not key.endswith(("工作会", "培训会"))


def _put_name_or_person(draft: Draft, key: str, cell: Cell) -> None:
    """Put a value by its type when the OCR moved labels: an ID-like number is dropped, an
    organisation under 项目负责人 is the department, a person under 项目名称 is the lead."""
    text = cell.text
    if re.fullmatch(r"[\dXx\-]{9,}", normalise(text)) and not _HAN_CHAR.search(text):
        draft.doubt(key, f"'{text}' under the {key} label is a number; dropped", kind="unreadable", value=text)
        return
    if key == "project_lead" and _looks_like_org(text):
        if not draft.has("department"):
            draft.put("department", text, cell)
            draft.doubt("department", "organisation name found under the 项目负责人 label", kind="label-moved",
                        value=text)
        return
    if _is_form_word(text):
        draft.doubt(key, f"'{text}' under the {key} label is a word of the form, not a value", kind="label-moved",
                    value=text)
        return
    with_phone = _PERSON_AND_PHONE.fullmatch(text) if key == "project_lead" else None
    if with_phone:  # "项目负责人及电话 | 王建军  13903512468"
        draft.put(key, with_phone.group(1), cell)
        if not draft.has("phone"):
            draft.put("phone", with_phone.group(2), cell)
        return
    draft.put(key, text, cell)


_PERSON_AND_PHONE = re.compile(r"([\u4e00-\u9fff]{2,4})\s*(?:联系电话|电话)?[:：]?\s*((?:\d{3,4}-)?\d{7,11})")


def _settle_project_name(draft: Draft, unlabeled: Cell | None) -> None:
    """The OCR often loses the 项目名称 label or moves it onto the lead's row."""
    record = draft.record
    name = record.project_name
    if unlabeled is None:
        if name is None:
            draft.doubt("project_name", "no project name was found", kind="missing-value")
        return
    if name is None:
        draft.put("project_name", unlabeled.text, unlabeled)
        draft.doubt("project_name", "project name taken from an unlabeled row", kind="unlabeled-value",
                    value=unlabeled.text)
        return
    if looks_like_person(name) or len(normalise(name)) <= 3:
        evidence = record.evidence.get("project_name")
        if record.project_lead is None and looks_like_person(name) and evidence:
            draft.put("project_lead", name, Cell(name, evidence.line, 0))
            draft.doubt("project_lead", "the 项目名称 label sat on the lead's row; its value is read as the lead",
                        kind="label-moved", value=name)
    elif _looks_like_org(name) and not _looks_like_org(unlabeled.text):
        evidence = record.evidence.get("project_name")
        if record.department is None and evidence:
            draft.put("department", name, Cell(name, evidence.line, 0))
            draft.doubt("department", "an organisation name sat under the 项目名称 label; read as the department",
                        kind="label-moved", value=name)
    else:
        return
    record.project_name = None
    draft.put("project_name", unlabeled.text, unlabeled)
    draft.doubt("project_name", "project name taken from an unlabeled row", kind="unlabeled-value",
                value=unlabeled.text)


def _read_fund_row(row: Row, hits: list[LabelHit], draft: Draft) -> None:
    """A money row: three segments (planned | received | executed), each a label and its value."""
    segments = [hit for hit in hits if hit.key in _FUND_TOTALS or hit.key in _FUND_LINES]
    line_keys = [hit.key for hit in segments if hit.key in _FUND_LINES]
    line_name = _FUND_LINES[line_keys[0]] if line_keys else "total"
    for position, hit in enumerate(segments):
        if hit.key in _FUND_TOTALS:
            column = _FUND_TOTALS[hit.key]
            if column in [_FUND_TOTALS.get(other.key) for other in segments[:position]]:
                column = _FUND_COLUMNS[min(position, 2)]
                draft.doubt(f"funds.{column}.total", f"label '{hit.cell.text}' repeated; read as {column} by position",
                            kind="label-moved")
            line = "total"
        else:
            column = _FUND_COLUMNS[min(position, 2)]
            line = _FUND_LINES[hit.key]
        next_index = segments[position + 1].index if position + 1 < len(segments) else len(row.cells)
        numbers = _money_cells(row, hit, next_index)
        if len(segments) == 1 and len(numbers) > 1:
            for column_index, (cell, reading) in enumerate(numbers[:3]):
                _put_money(draft, f"funds.{_FUND_COLUMNS[column_index]}.{line}", cell, reading)
            draft.doubt([f"funds.{name}.{line}" for name in _FUND_COLUMNS[:len(numbers)]],
                        "one label with several amounts; assigned by position", kind="shifted-cells")
            return
        if numbers:
            _put_money(draft, f"funds.{column}.{line}", *numbers[0])
            if len(numbers) > 1:
                draft.doubt(f"funds.{column}.{line}", "more than one amount beside this label",
                            kind="extra-value", values=[cell.text for cell, _ in numbers])
        elif column and line_name:
            draft.put(f"funds.{column}.total", None)


def _money_cells(row: Row, hit: LabelHit, stop: int) -> list:
    found = []
    if hit.remainder:
        reading = read_number(hit.remainder, money=True)
        if reading is not None and is_numeric_cell(hit.remainder.replace(" ", "")):
            found.append((Cell(hit.remainder, hit.cell.line, hit.cell.col), reading))
    for cell in row.cells[hit.index + hit.span:stop]:
        if cell.text and is_numeric_cell(cell.text):
            reading = read_number(cell.text, money=True)
            if reading is not None:
                found.append((cell, reading))
    return found


def _put_money(draft: Draft, path: str, cell: Cell, reading) -> None:
    if "." in path and path.count(".") == 2 and draft.has(path):
        return
    draft.put(path, reading.value, cell)
    if reading.doubt:
        draft.doubt(path, reading.doubt, kind="ambiguous-number", value=cell.text)


def _read_city_goals(goal_rows: list[tuple[Row, list[LabelHit]]], draft: Draft) -> None:
    """项目预期绩效目标: the output (数量) and effect (效果) texts between the funds and 项目执行情况.

    The OCR often invents these labels ("项目概况及主要服务的受益对象"), so a labelled text
    goes where its label says and unlabelled texts fill output, then effect, in order."""
    unlabelled: list[tuple[str, Cell]] = []
    for row, hits in goal_rows:
        wanted = next((hit for hit in hits if hit.key in ("goal_output", "goal_effect")), None)
        start = wanted.index + wanted.span if wanted is not None else 0
        text, cell = (wanted.remainder, wanted.cell) if wanted is not None and wanted.remainder else \
            _goal_text(row, start, labelled=wanted is not None)
        if not text or cell is None:
            continue
        if wanted is not None:
            path = "goals.output" if wanted.key == "goal_output" else "goals.effect"
            if not draft.has(path):
                draft.put(path, text, cell)
                continue
        unlabelled.append((text, cell))
    output = draft.record.goals.output
    if output and not draft.has("goals.effect"):
        embedded = _EMBEDDED_EFFECT.search(output)
        if embedded and embedded.start() > 0:
            evidence = draft.record.evidence.get("goals.output")
            cell = Cell(output, evidence.line, 0) if evidence else None
            draft.record.goals.output = output[:embedded.start()]
            draft.put("goals.effect", output[embedded.end():].strip(), cell)
            draft.doubt(["goals.output", "goals.effect"], "the 项目效果 label sat inside the output text; split there",
                        kind="label-moved")
    for text, cell in unlabelled:
        path = next((p for p in ("goals.output", "goals.effect") if not draft.has(p)), None)
        if path is None:
            break
        draft.put(path, text, cell)
        draft.doubt(path, "goal text without its printed label; placed by its order", kind="unlabeled-value")


_EMBEDDED_EFFECT = re.compile(r"项目(?:效果|结果)\s*[:：]?")


def _goal_text(row: Row, start: int, *, labelled: bool = False) -> tuple[str, Cell | None]:
    """The goal text of a row: its cells after the labels; in a row whose label the
    vocabulary does not know, a short first cell before a longer text is that label."""
    cells = [cell for cell in row.cells[start:] if cell.text]
    body = [cell for cell in cells if len(normalise(cell.text)) >= 8 or not _is_form_word(cell.text)]
    while not labelled and len(body) > 1 and len(normalise(body[0].text)) <= 20 and not re.search(r"[。，,；;]", body[0].text) \
            and len(normalise(body[1].text)) > len(normalise(body[0].text)):
        body = body[1:]
    if not body:
        return "", None
    return "".join(cell.text for cell in body), body[0]


def _states_execution(row: Row) -> bool:
    """A row that reports the budget execution (执行率 with a percentage or a score), whatever its label."""
    text = row.joined()
    return "执行率" in text and bool(re.search(r"\d\s*%|得\s*分", text)) and len(row.nonempty()) <= 4


def _first_cell_hit(row: Row) -> LabelHit:
    """The execution statement's row without its label: the first cell stands for the label,
    unless the row is the statement alone."""
    cells = row.nonempty()
    first = cells[0]
    index = row.cells.index(first)
    return LabelHit("execution", Match("execution", 0.0, "", remainder=first.text if len(cells) == 1 else ""),
                    index, first)


def _read_execution(row: Row, hit: LabelHit, draft: Draft, *, label: LabelHit | None = None) -> None:
    """项目执行情况: rate and score from the statement; the weight from the label ("(10分)"), which
    may stand on the row above (``label``)."""
    label_cell = (label or hit).cell
    _, weight = strip_weight(label_cell.text)
    text, cell = (hit.remainder, hit.cell) if hit.remainder else _text_after(row, hit.index + hit.span)
    if weight is not None:
        draft.put("execution_weight", weight, label_cell)
    else:
        draft.record.execution_weight = 10.0
    if not text or cell is None:
        draft.doubt(["execution_rate", "execution_score"], "项目执行情况 has no text", kind="missing-value")
        return
    rate = percent_in(text)
    score = score_in(text)
    if score is None and is_numeric_cell(text) and "%" not in text:
        score = read_number(text)
    elif score is None:
        trailing = re.search(r"(\d+(?:\.\d+)?)\s*分\s*[)）]?\s*[。.]?\s*$", text)
        if trailing:
            score = read_number(trailing.group(1))
    if rate is not None:
        draft.put("execution_rate", rate.value, cell, text=text)
        if "预算执行率" not in text and "执行率" not in text:
            draft.doubt("execution_rate", "the percentage is not named as 执行率", kind="unlabeled-value", value=text)
    else:
        draft.doubt("execution_rate", "no 预算执行率 printed", kind="missing-value")
    if score is not None:
        draft.put("execution_score", score.value, cell, text=text)
    else:
        draft.doubt("execution_score", "no score printed for 项目执行情况", kind="missing-value")


@dataclass
class Entry:
    """One row of the indicator table after classification."""

    parsed: IndicatorRow
    number: int | None
    indicator: Indicator | None = None
    cited: dict[str, Cell] = field(default_factory=dict)
    score_cells: list[tuple[Cell, float]] = field(default_factory=list)
    level2: str | None = None
    level2_cell: Cell | None = None
    level2_inferred: bool = False
    dropped: list[Cell] = field(default_factory=list)
    label_only: Cell | None = None
    level1_doubt: str | None = None
    shifted: str | None = None


_LEVEL2_ORDER = ["数量指标", "质量指标", "时效指标", "成本指标", "经济效益指标", "社会效益指标", "生态效益指标",
                 "可持续影响指标", "服务对象满意度指标"]


def _without_repeated_headers(rows: list[Row]) -> list[Row]:
    """The indicator header printed again after a page break is no indicator row."""
    return [row for row in rows if not _is_indicator_header(row)]


def _read_city_indicators(rows: list[Row], draft: Draft) -> None:
    """City rows: [一级] [二级] 指标N name | 年度指标值 | 全年完成值 | 未完成原因 | 自评得分.

    Level2 labels are merged cells the OCR prints on any row of their span (first,
    second, middle), so rows are grouped by their 指标N restarts and each group takes
    the label printed anywhere inside it. Scores in the 自评得分 column are the
    一级指标 subtotals (the city form prints no per-indicator score)."""
    rows = _without_repeated_headers(rows)
    entries = [_city_entry(row) for row in rows]
    groups = _numbering_groups(entries)
    _assign_group_level2(groups)
    blocks, orphan_scores = _city_blocks(entries)
    indicators: list[Indicator] = []
    evidence: list[dict[str, Cell]] = []
    doubts: list[tuple[int, str, str]] = []
    for entry in entries:
        if entry.label_only is not None:
            draft.doubt([], f"row {entry.label_only.line} names only a category ({entry.label_only.text}) "
                        "and has no values; not read as an indicator", kind="skipped-row")
        if entry.indicator is None:
            continue
        index = len(indicators)
        indicator = entry.indicator
        indicator.level2 = entry.level2
        indicators.append(indicator)
        cited = dict(entry.cited)
        if entry.level2_cell is not None:
            cited["level2"] = entry.level2_cell
        evidence.append(cited)
        if entry.level2 is None:
            doubts.append((index, "level2", "no 二级指标 for this row"))
        elif entry.level2_inferred:
            doubts.append((index, "level2", f"二级指标 not printed for this group; {entry.level2} inferred from the form's order"))
        if indicator.level1 is None:
            doubts.append((index, "level1", "no 一级指标 for this row"))
        elif entry.level1_doubt:
            doubts.append((index, "level1", entry.level1_doubt))
        if entry.shifted:
            doubts.append((index, "actual", entry.shifted))
        if not entry.parsed.numbered and entry.parsed.level2 is None and entry.parsed.level1 is None \
                and indicator.actual is None:
            doubts.append((index, "actual", "row without numbering and with few cells; values may be shifted"))
    if orphan_scores:
        draft.doubt("category_scores", "score cells before any 一级指标 label", kind="shifted-cells",
                    values=[value for _, value in orphan_scores])
    if any(entry.level1_doubt for entry in entries):
        doubts.extend(_out_of_order_categories(indicators))  # invented labels: order says nothing sure
    else:
        indicators, evidence, doubts = _in_form_order(draft, indicators, evidence, doubts)
    _commit_indicators(draft, indicators, evidence, doubts)
    _city_category_scores(draft, blocks, indicators)


def _out_of_order_categories(indicators: list[Indicator]) -> list[tuple[int, str, str]]:
    """The form prints 产出, then 效益, then 满意度; rows whose categories run backwards were
    labelled by an invented or misplaced label, so their level1 and level2 are in doubt."""
    order = {name: rank for rank, name in enumerate(("产出指标", "成本指标", "效益指标", "满意度指标"))}
    ranks = [order.get(indicator.level1 or "", -1) for indicator in indicators]
    doubts: list[tuple[int, str, str]] = []
    for index, rank in enumerate(ranks):
        later = [other for other in ranks[index + 1:] if other >= 0]
        earlier = [other for other in ranks[:index] if other >= 0]
        if rank >= 0 and ((later and min(later) < rank) or (earlier and max(earlier) > rank)):
            message = f"{indicators[index].level1} out of the form's order (产出, 效益, 满意度) among the rows"
            doubts.extend([(index, "level1", message), (index, "level2", message)])
    return doubts


_BARE_SCORE = re.compile(r"\d+(?:\.\d+)?\s*分?")


def _city_entry(row: Row) -> Entry:
    parsed = classify_indicator_row(row)
    number = None
    numbering = _NUMBERING_ANYWHERE.search(row.joined(" ")) if parsed.numbered else None
    if numbering:
        digits = re.search(r"\d+", numbering.group(0))
        number = int(digits.group(0)) if digits else None
    entry = Entry(parsed, number)
    values = parsed.values
    name_cell = next((cell for cell in values[:3] if cell.text), None)
    if name_cell is not None and (_score_like(name_cell.text) is not None or normalise(name_cell.text) in ("得分", "分")):
        name_cell = None
    if name_cell is None or _is_placeholder(name_cell.text):
        for cell in values or row.cells:
            value = _score_like(cell.text) if cell.text else None
            if value is not None:
                entry.score_cells.append((cell, value))
        if not values and not parsed.level1 and not parsed.level2:
            lone = [cell for cell in row.cells if cell.text]
            if len(lone) == 1 and _score_like(lone[0].text) is not None:
                entry.score_cells = [(lone[0], _score_like(lone[0].text))]
        return entry
    after = values[values.index(name_cell) + 1:]
    name_cell, fused_target = _split_fused_target(name_cell, after, row.raw)
    if fused_target is not None:
        after = [fused_target, *after]
    shifted = len(after) > 2 and not after[0].text and all(
        cell.text and len(cell.text) <= 12 and looks_like_value(cell.text)
        and not _BARE_SCORE.fullmatch(cell.text) for cell in after[1:3])  # a bare number may be the 自评得分
    if shifted:  # an empty cell pushed 年度指标值 and 全年完成值 one cell to the right
        after = after[1:]
        entry.shifted = (f"年度指标值 and 全年完成值 read one cell to the right ('{after[0].text}', "
                         f"'{after[1].text}' after an empty cell)")
    target = after[0] if len(after) > 0 else None
    actual = after[1] if len(after) > 1 else None
    note_cells, score_cells, dropped = _split_tail(after[2:])
    entry.score_cells.extend(score_cells[:1])
    entry.dropped = dropped
    note = "".join(cell.text for cell in note_cells) or None
    if not (_text(target) or _text(actual) or note or score_cells) and _is_category_label(name_cell.text):
        entry.label_only = name_cell
        return entry
    if not _text(actual) and len(note_cells) == 1 and target is not None and note == target.text and len(note) <= 8:
        actual, note, note_cells = note_cells[0], None, []
        entry.shifted = f"全年完成值 read one cell to the right ('{actual.text}' in the 未完成原因 column)"
    entry.indicator = Indicator(name=name_cell.text, target=_text(target), actual=_text(actual), note=note)
    entry.cited = {"name": name_cell}
    if target is not None and target.text:
        entry.cited["target"] = target
    if actual is not None and actual.text:
        entry.cited["actual"] = actual
    if note_cells:
        entry.cited["note"] = note_cells[0]
    return entry


def _is_category_label(text: str) -> bool:
    """A 三级指标 cell that only repeats a category label ("生态效益指标", "满意度")."""
    key = normalise(text)
    return key.endswith("指标") or any(match is not None and match.score >= 90
                                      for match in (canonical_level1(text), canonical_level2(text)))


_STATUS_WORDS = ("已完成", "完成", "未完成", "达到", "已达到", "达成")
_VALUE_START = re.compile(r"^(?:[≥≤<>=＞＜≈]\s*\d|\d+(?:\.\d+)?\s*%$)")


def _split_fused_target(name_cell: Cell, after: list[Cell], raw_line: str = "") -> tuple[Cell, Cell | None]:
    """"入住老人满意度 ≥90%": the OCR fused name and 年度指标值 into one cell, pushing the row left.

    Cleaning joins words split by a space between Chinese characters, so a fused
    "…质量和 显著提高" is looked for in the raw line too; only a row pushed left
    (two values after the name, the last a status word) is split that way."""
    following = [cell.text for cell in after if cell.text]
    shifted = len(following) == 2 and following[1] in _STATUS_WORDS
    parts = name_cell.text.rsplit(" ", 1)
    if len(parts) != 2 and shifted:
        raw_cells = raw_line.split("\t")
        raw_parts = raw_cells[name_cell.col].strip().rsplit(" ", 1) if name_cell.col < len(raw_cells) else []
        tail = raw_parts[1] if len(raw_parts) == 2 else ""
        if 2 <= len(tail) < len(name_cell.text) and name_cell.text.endswith(tail):
            parts = [name_cell.text[:-len(tail)], tail]
    if len(parts) != 2 or not parts[0].strip() or len(parts[1]) > 8:
        return name_cell, None
    if _VALUE_START.match(parts[1]) or shifted:
        return (Cell(parts[0].strip(), name_cell.line, name_cell.col),
                Cell(parts[1].strip(), name_cell.line, name_cell.col))
    return name_cell, None


def _split_tail(cells: list[Cell]) -> tuple[list[Cell], list[tuple[Cell, float]], list[Cell]]:
    """Cells right of 全年完成值: the note (text), the 自评得分 (a score), and OCR fragments.

    A fragment is a short cell after the note or score (border junk, watermark residue,
    a garbled copy of the score); only the first note cell and long text cells are kept."""
    notes: list[Cell] = []
    scores: list[tuple[Cell, float]] = []
    dropped: list[Cell] = []
    for cell in cells:
        text = cell.text
        if not text:
            continue
        value = _score_like(text)
        if value is not None and not scores:
            scores.append((cell, value))
            continue
        meaningful = len(normalise(text)) >= 6 or (not notes and not scores and len(normalise(text)) >= 2
                                                  and _HAN_CHAR.search(text))
        if meaningful:
            notes.append(cell)
        else:
            dropped.append(cell)
    return notes, scores, dropped


def _numbering_groups(entries: list[Entry]) -> list[list[Entry]]:
    """Rows of one 二级指标: a group starts at 指标1 (or a numbering that goes down), at a new
    一级指标 label, or, in unnumbered tables, at a printed level2 label."""
    groups: list[list[Entry]] = []
    last_number: int | None = None
    for entry in entries:
        starts = not groups
        if entry.parsed.level1 is not None and (entry.number is None or entry.number == 1 or last_number is None):
            starts = True
        if entry.number is not None:
            if entry.number == 1 or (last_number is not None and entry.number <= last_number):
                starts = True
            last_number = entry.number
        elif entry.parsed.level2 is not None and entry.indicator is not None:
            labelled = any(member.parsed.level2 is not None for member in groups[-1]) if groups else False
            if labelled or not any(member.number is not None for member in (groups[-1] if groups else [])):
                starts = True
        if starts and groups and not any(member.indicator for member in groups[-1]) \
                and entry.parsed.level1 is None and groups[-1][-1].parsed.level1 is not None \
                and not any(member.parsed.level2 is not None for member in groups[-1]):
            starts = False
        if starts:
            groups.append([entry])
        else:
            groups[-1].append(entry)
    return groups


def _assign_group_level2(groups: list[list[Entry]]) -> None:
    previous: str | None = None
    for group in groups:
        labels = [(entry.parsed.level2.canonical, entry.parsed.level2_cell) for entry in group
                  if entry.parsed.level2 is not None]
        if labels:
            current, cell = labels[0]
            for entry in group:
                if entry.parsed.level2 is not None:
                    current, cell = entry.parsed.level2.canonical, entry.parsed.level2_cell
                entry.level2, entry.level2_cell = current, cell
            previous = group[-1].level2
            continue
        if not any(entry.indicator for entry in group):
            continue
        guess = _next_level2(previous, group)
        for entry in group:
            entry.level2, entry.level2_cell, entry.level2_inferred = guess, None, guess is not None
        previous = guess or previous


def _next_level2(previous: str | None, group: list[Entry]) -> str | None:
    """An unlabelled group after ``previous`` takes the next category in the form's fixed order."""
    level1 = next((entry.parsed.level1.canonical for entry in group if entry.parsed.level1 is not None), None)
    if level1 is not None:
        members = [name for name in _LEVEL2_ORDER if level1_of(name) == level1 or
                   (level1 == "产出指标" and name == "成本指标")]
        return members[0] if members else None
    if previous is None:
        return _LEVEL2_ORDER[0]
    if previous not in _LEVEL2_ORDER:
        return None
    position = _LEVEL2_ORDER.index(previous)
    return _LEVEL2_ORDER[position + 1] if position + 1 < len(_LEVEL2_ORDER) else previous


def _city_blocks(entries: list[Entry]) -> tuple[list[Block], list[tuple[Cell, float]]]:
    """Level1 of every row and the blocks (weight, score cells) in first-appearance order."""
    blocks: list[Block] = []
    orphans: list[tuple[Cell, float]] = []
    current: Block | None = None
    printed_level1: str | None = None

    def block_for(level1: str) -> Block:
        found = next((block for block in blocks if block.level1 == level1), None)
        if found is None:
            found = Block(level1, None, None)
            blocks.append(found)
        return found

    doubt: str | None = None
    for entry in entries:
        parsed = entry.parsed
        if parsed.unknown_level1 is not None:
            doubt = (f"一级指标 printed as '{parsed.unknown_level1.text}' (line {parsed.unknown_level1.line}), "
                     "not a category of the form; level1 inferred from the 二级指标")
        if parsed.level1 is not None:
            printed_level1 = parsed.level1.canonical
            implied = level1_of(entry.level2) if entry.level2 is not None and entry.indicator is not None else None
            if implied not in (None, printed_level1) and entry.level2 != "成本指标":
                doubt = (f"一级指标 printed as {printed_level1} (line {parsed.level1_cell.line}) beside the "
                         f"{implied} label {entry.level2}: the printed categories disagree")
            else:
                doubt = None
            label_block = block_for(printed_level1) if entry.level2 is None or entry.indicator is None \
                or level1_of(entry.level2) in (None, printed_level1) else None
            if label_block is None:
                implied = level1_of(entry.level2)
                label_block = block_for(implied) if implied and entry.level2 != "成本指标" else block_for(printed_level1)
            if label_block.weight is None:
                label_block.weight = parsed.level1_weight
                label_block.label_cell = parsed.level1_cell
            current = label_block
        level1 = None
        if entry.level2 is not None:
            implied = level1_of(entry.level2)
            if entry.level2 == "成本指标" and printed_level1 == "成本指标":
                implied = "成本指标"
            level1 = implied
        if level1 is None:
            level1 = current.level1 if current is not None else printed_level1
        if entry.indicator is not None:
            entry.indicator.level1 = level1
            entry.level1_doubt = doubt
            if level1 is not None:
                current = block_for(level1)
        if parsed.loose_weight is not None and current is not None and current.weight is None:
            current.weight = parsed.loose_weight
            current.label_cell = current.label_cell or parsed.loose_weight_cell
        if entry.score_cells:
            target = current if current is not None else None
            if target is None:
                orphans.extend(entry.score_cells)
            else:
                target.score_cells.extend(entry.score_cells)
    return blocks, orphans


def _commit_indicators(draft: Draft, indicators: list[Indicator], evidence: list[dict[str, Cell]],
                       doubts: list[tuple[int, str, str]]) -> None:
    for index, indicator in enumerate(indicators):
        if indicator.level1 == "满意度指标" and indicator.level2 is None:
            indicator.level2 = "服务对象满意度指标"  # the only 二级指标 the form has under 满意度指标
            doubts = [doubt for doubt in doubts if doubt[:2] != (index, "level2")]
    draft.record.indicators = indicators
    for index, cited in enumerate(evidence):
        for key, cell in cited.items():
            draft.cite(f"indicators[{index}].{key}", cell)
    for index, key, message in doubts:
        draft.doubt(f"indicators[{index}].{key}", message, kind="uncertain")


def _city_category_scores(draft: Draft, blocks: list[Block], indicators: list[Indicator]) -> None:
    """One subtotal per 一级指标 block. The OCR moves subtotals onto neighbouring rows, so a
    block holding several score cells hands the extras to a neighbour that has none and
    whose weight admits them; what cannot be placed is flagged."""
    merged: list[Block] = []
    for block in blocks:
        if block.level1 is None:
            continue
        same = next((other for other in merged if other.level1 == block.level1), None)
        if same is None:
            merged.append(Block(block.level1, block.weight, block.label_cell, list(block.score_cells)))
            continue
        same.weight = same.weight if same.weight is not None else block.weight
        same.label_cell = same.label_cell or block.label_cell
        same.score_cells.extend(block.score_cells)
    unplaced: list[tuple[str, list[float]]] = []
    for position, block in enumerate(merged):
        while len(block.score_cells) > 1:
            extra = block.score_cells[-1]
            neighbour = _free_neighbour(merged, position, extra[1], after=True)
            if neighbour is None:
                extra = block.score_cells[0]
                neighbour = _free_neighbour(merged, position, extra[1], after=False)
            if neighbour is None:
                unplaced.append((block.level1 or "", [value for _, value in block.score_cells]))
                fitting = [item for item in block.score_cells if block.weight is None or item[1] <= block.weight]
                block.score_cells = fitting[:1] or block.score_cells[:1]
                break
            block.score_cells.remove(extra)
            neighbour.score_cells.append(extra)
            neighbour.moved = True
    scores: list[CategoryScore] = []
    for block in merged:
        if not block.score_cells:
            continue
        cell, value = block.score_cells[0]
        position = len(scores)
        scores.append(CategoryScore(level1=block.level1, weight=block.weight, score=value))
        draft.record.category_scores = scores
        draft.cite(f"category_scores[{position}].score", cell)
        if block.label_cell is not None and block.weight is not None:
            draft.cite(f"category_scores[{position}].weight", block.label_cell)
        if getattr(block, "moved", False):
            draft.doubt(f"category_scores[{position}].score",
                        f"subtotal {value:g} was printed in a neighbouring block's rows", kind="shifted-cells")
        for level1, values in unplaced:
            if level1 == block.level1:
                draft.doubt(f"category_scores[{position}].score",
                            f"several score cells in the {level1} block ({values}); the first that fits the weight is kept",
                            kind="extra-value")
    draft.record.category_scores = scores
    draft.record.indicators = indicators


def _free_neighbour(blocks: list[Block], position: int, value: float, *, after: bool) -> Block | None:
    index = position + 1 if after else position - 1
    if 0 <= index < len(blocks):
        neighbour = blocks[index]
        if not neighbour.score_cells and (neighbour.weight is None or value <= neighbour.weight):
            return neighbour
    return None


def _read_total(rows: list[Row], draft: Draft) -> None:
    """The 总分 row is ``rows[0]``; a score the OCR put on a line of its own just below is read too."""
    row = rows[0]
    numbers = []
    grade = None
    for cell in row.cells:
        text = cell.text
        if not text:
            continue
        key = normalise(text)
        if key in _GRADES:
            grade = (key, cell)
            continue
        compact = re.sub(r"^(总分|总计分|总计)", "", re.sub(r"\s+", "", text))
        if compact and re.fullmatch(r"\d+(?:\.\d+)?分?", compact):
            numbers.append((cell, read_number(compact)))
        elif compact in _GRADES:
            grade = (compact, cell)
    if not numbers and len(rows) > 1:
        below = [cell for cell in rows[1].cells if cell.text]
        if len(below) == 1 and _score_like(below[0].text) is not None:
            numbers.append((below[0], read_number(below[0].text)))
    if numbers:
        cell, reading = numbers[-1]
        draft.put("total_score", reading.value, cell)
        if len(numbers) > 2:
            draft.doubt("total_score", "several numbers on the 总分 row", kind="extra-value",
                        values=[c.text for c, _ in numbers])
    if grade:
        draft.put("grade", grade[0], grade[1])


def _read_city_narrative(rows: list[Row], draft: Draft) -> None:
    targets = {"conclusion": "narrative.conclusion", "experience": "narrative.experience",
               "problems": "narrative.problems"}
    for position, row in enumerate(rows):
        hits = find_labels(row, "city-project", keys=set(targets) | {"total"})
        if _is_total_row(row) and not draft.has("total_score"):
            _read_total(rows[position:position + 2], draft)
            continue
        for hit in hits:
            if hit.key not in targets:
                continue
            text, cell = (hit.remainder, hit.cell) if hit.remainder else _text_after(row, hit.index + hit.span)
            if text and cell is not None:
                draft.put(targets[hit.key], _continued(text, cell, rows[position + 1:]), cell)
            break


# ----------------------------------------------------------------------------------------------
# province form


def _read_province(grid: Grid, draft: Draft) -> None:
    template = "province-project"
    _put_year_near_title(grid, draft)
    rows = grid.rows
    header_index = next((i for i, row in enumerate(rows) if _is_indicator_header(row)), None)
    head = rows[:header_index] if header_index is not None else rows
    for position, row in enumerate(head):
        hits = find_labels(row, template)
        keys = [hit.key for hit in hits]
        if "funds_total_row" in keys:
            columns = _funds_columns(head[max(0, position - 4):position])
            hit = hits[keys.index("funds_total_row")]
            amounts_row = row
            if not any(is_numeric_cell(cell.text) for cell in row.cells[hit.index + hit.span:] if cell.text) \
                    and position + 1 < len(head) and not find_labels(head[position + 1], template):
                amounts_row = head[position + 1]  # "资金总额:" alone, its amounts on the next line
                hit = LabelHit(hit.key, hit.match, -1, hit.cell, 1)
            _read_province_funds(amounts_row, hit, draft, grid, columns=columns)
            continue
        if "goal_annual" in keys:
            _read_goal_pair(head[position + 1:], draft, ("goals.annual", "goals.achieved"))
            continue
        _put_identity(row, hits, draft, template)
    if draft.record.execution_weight is None:
        draft.record.execution_weight = 10.0
    if header_index is None:
        draft.doubt("indicators", "no indicator header row was found", kind="missing-section")
        return
    total_index = next((i for i in range(header_index + 1, len(rows)) if _is_total_row(rows[i])), None)
    body_end = total_index if total_index is not None else len(rows)
    body = rows[header_index + 1:body_end]
    after_total = _indicator_rows_after_total(rows[total_index + 1:]) if total_index is not None else []
    _read_weighted_indicators(body + after_total, draft)
    moved = [index for index in range(len(draft.record.indicators))
             if draft.record.evidence.get(f"indicators[{index}].name")
             and draft.record.evidence[f"indicators[{index}].name"].line in {row.line for row in after_total}]
    if moved:
        draft.doubt([f"indicators[{index}]" for index in moved], "indicator row printed after the 总分 row; read "
                    "with the rows above it", kind="reordered-rows")
    if total_index is not None:
        _read_total(rows[total_index:total_index + 2], draft)
        _read_province_narrative(rows[total_index + 1:], draft)
    else:
        draft.doubt("total_score", "no 总分 row was found", kind="missing-value")


def _put_identity(row: Row, hits: list[LabelHit], draft: Draft, template: str) -> None:
    """项目名称, 主管部门(及代码), 预算单位/资金使用单位: the identity fields every form prints."""
    for hit in hits:
        if hit.key in ("project_name", "department", "implementing_unit"):
            cell = joined_value_after(row, hit, template)
            if cell is not None:
                _put_simple(draft, hit.key, cell, row)


def _put_year_near_title(grid: Grid, draft: Draft) -> None:
    """The "(2024年度)" printed under (or beside) a provincial title."""
    for number in range(grid.start_line, min(grid.start_line + 4, grid.end_line) + 1):
        raw = grid.raw_lines.get(number, "")
        found = re.search(r"[(（]\s*(\d{4})\s*年度?\s*[)）]", raw)
        if found:
            draft.put("eval_year", int(found.group(1)), Cell(raw.strip(), number, 0))
            return


def _read_goal_pair(rows: list[Row], draft: Draft, paths: tuple[str, str]) -> None:
    """The goal and its achievement side by side; a text the OCR wrapped onto the next rows
    (label column empty, text in the same columns) is joined."""
    for position, row in enumerate(rows[:3]):
        texts = [cell for cell in row.cells if cell.text and len(normalise(cell.text)) >= 4]
        if not texts:
            continue
        sides: list[list[Cell]] = [texts[:1], texts[1:]]
        columns = [{cell.col for cell in side} for side in sides]
        for following in rows[position + 1:]:
            more = [cell for cell in following.cells if cell.text]
            if not more or following.cells[0].text or any(cell.col not in columns[0] | columns[1] for cell in more):
                break
            for cell in more:
                sides[0 if cell.col in columns[0] else 1].append(cell)
        for path, side in zip(paths, sides):
            if side:
                draft.put(path, "".join(cell.text for cell in side), side[0])
        return


def _indicator_rows_after_total(rows: list[Row]) -> list[Row]:
    """Indicator rows a page break put after the 总分 row: category-labelled rows with their
    分值 and 得分, up to the first row that is not one."""
    found: list[Row] = []
    for row in rows:
        parsed = classify_indicator_row(row)
        numbers = [cell for cell in row.cells if cell.text and _score_like(cell.text) is not None]
        if (parsed.level1 is None and parsed.level2 is None) or len(numbers) < 2:
            break
        found.append(row)
    return found


_FUNDS_COLUMNS = ((re.compile("全年预算"), "funds.planned.total"), (re.compile("执行数"), "funds.executed.total"),
                  (re.compile("分值"), "execution_weight"), (re.compile("执行率"), "execution_rate"),
                  (re.compile("得分"), "execution_score"), (re.compile(r"资金结|结.?转.?余|结余"), "funds.balance"))
_DEFAULT_FUNDS_COLUMNS = ("funds.planned.total", "funds.executed.total", "funds.balance", "execution_rate",
                          "execution_score")
"""The 资金总额 row's right-hand columns in the form's usual order, where no header says otherwise."""


def _funds_columns(rows: list[Row]) -> tuple[str, ...]:
    """The right-hand amount columns of the 资金总额 row, in the order its header prints them.

    Forms move 分值 and 资金结(转)余 about (…执行数 | 分值 | 执行率 | 得分 | 结余) or leave
    结余 out, so the order comes from the header row above when it prints 执行数, 执行率
    and 得分."""
    for row in reversed(rows):
        found: list[str] = []
        for cell in row.cells:
            key = normalise(cell.text)
            for word, path in _FUNDS_COLUMNS:
                if word.search(key) and path not in found:
                    found.append(path)
                    break
        if {"funds.executed.total", "execution_rate", "execution_score"} <= set(found):
            if "funds.planned.total" not in found:  # "全年预算 / 数" split over two lines
                found.insert(found.index("funds.executed.total"), "funds.planned.total")
            return tuple(found)
    return _DEFAULT_FUNDS_COLUMNS


def _read_province_funds(row: Row, hit: LabelHit, draft: Draft, grid: Grid, *,
                         columns: tuple[str, ...] = _DEFAULT_FUNDS_COLUMNS) -> None:
    """The 资金总额 row: the ``columns`` read from the right (planned … score, as the header
    orders them); the rest (目标申报数, 预算编制数) from the left."""
    cells = [cell for cell in row.cells[hit.index + hit.span:] if cell.text and is_numeric_cell(cell.text)]
    if hit.remainder and is_numeric_cell(hit.remainder):
        cells.insert(0, Cell(hit.remainder, hit.cell.line, hit.cell.col))
    readings = [(cell, read_number(cell.text, money=True)) for cell in cells]
    readings = [(cell, reading) for cell, reading in readings if reading is not None]
    readings = [(cell, _prefer_yuan_crosscheck(cell, reading, grid)) for cell, reading in readings]
    if len(readings) < 5:
        draft.doubt(["funds.planned.total", "funds.executed.total", "execution_rate"],
                    f"the 资金总额 row has {len(readings)} amounts, fewer than the form's columns",
                    kind="shifted-cells", values=[cell.text for cell, _ in readings])
    right = list(reversed(columns))
    for path, (cell, reading) in zip(right, reversed(readings)):
        draft.put(path, reading.value, cell)
        if reading.doubt:
            draft.doubt(path, reading.doubt, kind="ambiguous-number", value=cell.text)
    rest = readings[:-len(right)] if len(readings) > len(right) else []
    for path, (cell, reading) in zip(["funds.declared", "funds.initial"], rest):
        draft.put(path, reading.value, cell)
        if reading.doubt:
            draft.doubt(path, reading.doubt, kind="ambiguous-number", value=cell.text)
    if len(rest) == 1:
        draft.doubt(["funds.declared", "funds.initial"], "only one 年初预算数 amount; read as 目标申报数",
                    kind="shifted-cells")
    if len(rest) > 2:
        draft.doubt(["funds.declared", "funds.initial", "funds.planned.total"],
                    f"{len(rest) - 2} extra amount(s) on the 资金总额 row were dropped", kind="extra-value",
                    values=[cell.text for cell, _ in rest[2:]])


def _prefer_yuan_crosscheck(cell: Cell, reading, grid: Grid):
    """"14,256" is 14.256万元 when the table also says 142560元: a thousands reading must agree with the text."""
    if not reading.doubt or "," not in cell.text:
        return reading
    from extract.values import Reading

    as_decimal = read_number(re.sub(r"\s+", "", cell.text).replace(",", "."))
    if as_decimal is None:
        return reading
    decimal_value = as_decimal.value
    yuan_amounts = {int(float(n)) for n in re.findall(r"(\d+(?:\.\d+)?)\s*元", " ".join(grid.raw_lines.values()))}
    if round(decimal_value * 10000) in yuan_amounts and round(reading.value * 10000) not in yuan_amounts:
        return Reading(decimal_value, as_decimal.decimals, f"'{cell.text}' read as {decimal_value}万元: the table states "
                                                f"{round(decimal_value * 10000)}元")
    return reading


def _read_weighted_indicators(rows: list[Row], draft: Draft, *, adjusted_column: bool = True) -> None:
    """Province rows: name, 年初, 调整后, 实际, 定性 | 分值, 得分 (read from the right) | 偏差原因.
    Without ``adjusted_column`` (the department form): name, 年度指标值, 实际完成值 | 分值, 得分 | 偏差原因."""
    rows = _without_repeated_headers(rows)
    indicators: list[Indicator] = []
    evidence: list[dict[str, Cell]] = []
    doubts: list[tuple[int, str, str]] = []
    level1: str | None = None
    level1_cell: Cell | None = None
    level2: str | None = None
    level2_cell: Cell | None = None
    last_note_col: int | None = None
    last_deviation, last_qualitative = "", []
    for row in rows:
        alone = row.nonempty()
        if indicators and last_note_col is not None and len(alone) == 1 and alone[0].col >= last_note_col \
                and not is_numeric_cell(alone[0].text):
            # the 偏差原因 cell of the row above, wrapped onto a row of its own
            last_deviation += alone[0].text
            indicators[-1].note = "；".join(part for part in (last_deviation, *last_qualitative) if part)
            continue
        parsed = classify_indicator_row(row)
        if parsed.level1 is not None:
            level1, level1_cell = parsed.level1.canonical, parsed.level1_cell
            level2, level2_cell = None, None
        if parsed.level2 is not None:
            level2, level2_cell = parsed.level2.canonical, parsed.level2_cell
            implied = level1_of(level2)
            if implied and implied != level1 and level2 != "成本指标":
                level1, level1_cell = implied, parsed.level1_cell or parsed.level2_cell
        values = parsed.values
        name_cell = next((cell for cell in values if cell.text), None)
        if name_cell is None or _is_placeholder(name_cell.text):
            continue
        after = values[values.index(name_cell) + 1:]
        numeric_positions = [i for i, cell in enumerate(after) if cell.text and _score_like(cell.text) is not None
                             and not re.search(r"[%≥≤<>=]", cell.text)]
        weight_cell = score_cell = None
        tail_notes: list[Cell] = []
        middle = after
        if len(numeric_positions) >= 2 and numeric_positions[-1] - numeric_positions[-2] <= 2:
            weight_at, score_at = numeric_positions[-2], numeric_positions[-1]
            weight_cell, score_cell = after[weight_at], after[score_at]
            middle = after[:weight_at]
            tail_notes = [cell for cell in after[score_at + 1:] if cell.text]
        elif numeric_positions:
            score_at = numeric_positions[-1]
            score_cell = after[score_at]
            middle = after[:score_at]
            tail_notes = [cell for cell in after[score_at + 1:] if cell.text]
            doubts.append((len(indicators), "weight", "only one number where 分值 and 得分 stand"))
        middle = _trim_trailing(middle)
        if not adjusted_column and len(middle) >= 2:
            target, adjusted, actual = middle[0], None, middle[1]
            qualitative = [cell for cell in middle[2:] if cell.text]
        elif len(middle) >= 3:
            target, adjusted, actual = middle[0], middle[1], middle[2]
            qualitative = [cell for cell in middle[3:] if cell.text]
        elif len(middle) == 2:
            target, adjusted, actual = None, middle[0], middle[1]
            qualitative = []
            doubts.append((len(indicators), "target", "a value column is missing; read as 调整后指标值 and 实际完成值"))
        else:
            target = adjusted = None
            actual = middle[0] if middle else None
            qualitative = []
            doubts.append((len(indicators), "actual", "value columns missing on this row"))
        note_parts = [cell.text for cell in tail_notes] + [cell.text for cell in qualitative]  # the spec's order
        last_note_col = tail_notes[-1].col if tail_notes else (score_cell.col + 1 if score_cell is not None else None)
        last_deviation, last_qualitative = "".join(cell.text for cell in tail_notes), [cell.text for cell in qualitative]
        index = len(indicators)
        indicator = Indicator(
            level1=level1, level2=level2, name=name_cell.text,
            target=_text(target), adjusted_target=_text(adjusted), actual=_text(actual),
            weight=read_number(weight_cell.text).value if weight_cell is not None else None,
            score=read_number(score_cell.text).value if score_cell is not None else None,
            note="；".join(note_parts) or None,
        )
        cited = {"name": name_cell}
        for key, cell in (("target", target), ("adjusted_target", adjusted), ("actual", actual),
                          ("weight", weight_cell), ("score", score_cell), ("level1", level1_cell),
                          ("level2", parsed.level2_cell or level2_cell)):
            if cell is not None and cell.text:
                cited[key] = cell
        if qualitative or tail_notes:
            cited["note"] = (tail_notes or qualitative)[0]
        if level2 is None:
            doubts.append((index, "level2", "no 二级指标 for this row"))
        if level1 is None:
            doubts.append((index, "level1", "no 一级指标 for this row"))
        indicators.append(indicator)
        evidence.append(cited)
    indicators, evidence, doubts = _in_form_order(draft, indicators, evidence, doubts)
    _commit_indicators(draft, indicators, evidence, doubts)
    _summed_category_scores(draft, indicators)


_FORM_ORDER = {name: rank for rank, name in enumerate(("产出指标", "成本指标", "效益指标", "满意度指标"))}


def _in_form_order(draft: Draft, indicators: list[Indicator], evidence: list[dict[str, Cell]],
                   doubts: list[tuple[int, str, str]]) -> tuple[list[Indicator], list[dict[str, Cell]],
                                                            list[tuple[int, str, str]]]:
    """Rows the OCR read out of the form's block order (a 满意度 row among the 效益 rows) are put
    back in 产出, 成本, 效益, 满意度 order, keeping the order within a block, and flagged."""
    ranks = [_FORM_ORDER.get(indicator.level1 or "", -1) for indicator in indicators]
    known = [rank for rank in ranks if rank >= 0]
    if known == sorted(known) or -1 in ranks:
        return indicators, evidence, doubts
    order = sorted(range(len(indicators)), key=lambda index: ranks[index])
    position = {old: new for new, old in enumerate(order)}
    ahead = [index for index, rank in enumerate(ranks) if any(later < rank for later in ranks[index + 1:])]
    behind = [index for index, rank in enumerate(ranks) if any(earlier > rank for earlier in ranks[:index])]
    moved = min(ahead, behind, key=len)  # the rows the OCR displaced, not the block they jumped over
    draft.doubt([f"indicators[{position[old]}]" for old in moved],
                "rows printed out of the form's block order (产出, 效益, 满意度) were put back in that order",
                kind="reordered-rows")
    return ([indicators[old] for old in order], [evidence[old] for old in order],
            [(position[index], key, message) for index, key, message in doubts])


def _trim_trailing(cells: list[Cell]) -> list[Cell]:
    end = len(cells)
    while end and not cells[end - 1].text:
        end -= 1
    return cells[:end]


def _text(cell: Cell | None) -> str | None:
    return cell.text if cell is not None and cell.text else None


def _summed_category_scores(draft: Draft, indicators: list[Indicator]) -> None:
    sums: dict[str, list[float | None]] = {}
    for indicator in indicators:
        if indicator.level1 is None:
            continue
        weight, score = sums.setdefault(indicator.level1, [None, None])
        if indicator.weight is not None:
            weight = (weight or 0) + indicator.weight
        if indicator.score is not None:
            score = (score or 0) + indicator.score
        sums[indicator.level1] = [weight, score]
    draft.record.category_scores = [CategoryScore(level1=level1, weight=_round(w), score=_round(s))
                                    for level1, (w, s) in sums.items()]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _read_province_narrative(rows: list[Row], draft: Draft) -> None:
    template = "province-project"
    conclusion: list[tuple[str, Cell]] = []
    targets = {"experience": "narrative.experience", "problems": "narrative.problems",
               "next_steps": "narrative.next_steps"}
    for row in rows:
        hits = find_labels(row, template, keys={"conclusion_part", *targets, "remarks"})
        if not hits:
            continue
        hit = hits[0]
        if hit.key == "remarks":
            break
        text, cell = (hit.remainder, hit.cell) if hit.remainder else _text_after(row, hit.index + hit.span)
        if not text or cell is None:
            continue
        if hit.key == "conclusion_part":
            conclusion.append((text, cell))
        else:
            draft.put(targets[hit.key], text, cell)
    if conclusion:
        draft.put("narrative.conclusion", "\n".join(text for text, _ in conclusion), conclusion[0][1])


# ----------------------------------------------------------------------------------------------
# goal-declaration form (other)


def _read_other(grid: Grid, draft: Draft) -> None:
    if _is_department_form(grid):
        _read_department(grid, draft)
        return
    template = "other"
    _put_year_near_title(grid, draft)
    rows = grid.rows
    header_index = next((i for i, row in enumerate(rows) if _is_indicator_header(row)), None)
    head = rows[:header_index] if header_index is not None else rows
    funds: dict[str, tuple[Cell, float]] = {}
    for position, row in enumerate(head):
        hits = find_labels(row, template)
        for hit in hits:
            key = hit.key
            cell = value_after(row, hit, template=template)
            if cell is None and position + 1 < len(head):
                cell = value_below(head[position + 1], hit)
            if key in ("project_name", "department", "implementing_unit", "project_lead", "phone", "fill_date"):
                if cell is not None:
                    _put_simple(draft, key, cell, row)
            elif key == "execution_rate" and cell is not None:
                reading = read_number(cell.text)
                if reading:
                    draft.put("execution_rate", reading.value, cell)
            elif key == "score" and cell is not None:
                reading = read_number(cell.text)
                if reading:
                    draft.put("total_score", reading.value, cell)
            elif key in ("funds_annual_total", "line_central", "line_provincial", "line_city", "line_self",
                         "line_other") and cell is not None and is_numeric_cell(cell.text):
                reading = read_number(cell.text, money=True)
                if reading is not None:
                    funds.setdefault(key, (cell, reading.value))
            elif key == "goal_overall":
                texts = [c for c in row.cells[hit.index + hit.span:] if c.text and len(normalise(c.text)) >= 4]
                if len(texts) >= 2:
                    draft.put("goals.annual", texts[-1].text, texts[-1])
    _put_goal_funds(draft, funds)
    if header_index is not None:
        _read_goal_indicators(rows[header_index + 1:], draft)
    else:
        draft.doubt("indicators", "no indicator header row was found", kind="missing-section")


def _is_department_form(grid: Grid) -> bool:
    """部门整体支出绩效自评表: a department's whole spending, not one project."""
    title = normalise(grid.title or "")
    if "部门整体" in title or "整体支出" in title:
        return True
    return any(hit.key in ("department", "tasks") and not hit.match.by_wording
               for row in grid.rows[:8] for hit in find_labels(row, _DEPARTMENT))


def _read_department(grid: Grid, draft: Draft) -> None:
    """The department-overall form (template ``other``): 部门（单位）名称, the 年度总额 row of
    年度部门整体支出预算执行情况 (年初预算数, 全年预算数, 全年执行数 | 分值, 执行率, 得分),
    年度总体目标 (预期目标 | 实际完成情况), the weighted indicators and 总分."""
    draft.form = _DEPARTMENT
    _put_year_near_title(grid, draft)
    rows = grid.rows
    header_index = next((i for i, row in enumerate(rows) if _is_indicator_header(row)), None)
    head = rows[:header_index] if header_index is not None else rows
    for position, row in enumerate(head):
        for hit in find_labels(row, _DEPARTMENT):
            if hit.key == "department" and not draft.has("department"):
                cell = value_after(row, hit, template=_DEPARTMENT)
                if cell is not None:
                    draft.put("department", cell.text, cell)
            elif hit.key == "funds_total_row" and not draft.has("funds.executed.total"):
                _read_department_funds(row, hit, draft)
            elif hit.key == "goals_section" and not draft.has("goals.annual"):
                below = [other for other in head[position + 1:position + 4]
                         if not any(h.key in ("goal_annual", "goal_achieved") for h in find_labels(other, _DEPARTMENT))]
                _read_goal_pair(below, draft, ("goals.annual", "goals.achieved"))
    if header_index is None:
        draft.doubt("indicators", "no indicator header row was found", kind="missing-section")
        return
    total_index = next((i for i in range(header_index + 1, len(rows)) if _is_total_row(rows[i])), None)
    _read_weighted_indicators(rows[header_index + 1:total_index], draft, adjusted_column=False)
    if total_index is not None:
        _read_total_from_right(rows[total_index], draft)


def _read_department_funds(row: Row, hit: LabelHit, draft: Draft) -> None:
    """年度总额: three amounts from the left (年初预算数, 全年预算数, 全年执行数), then 分值, 执行率, 得分."""
    cells = [cell for cell in row.cells[hit.index + hit.span:] if cell.text and is_numeric_cell(cell.text)]
    if hit.remainder and is_numeric_cell(hit.remainder):
        cells.insert(0, Cell(hit.remainder, hit.cell.line, hit.cell.col))
    readings = [(cell, read_number(cell.text, money=True)) for cell in cells]
    readings = [(cell, reading) for cell, reading in readings if reading is not None]
    for path, (cell, reading) in zip(("funds.initial", "funds.planned.total", "funds.executed.total"), readings):
        draft.put(path, reading.value, cell)
    if len(readings) == 6:
        for path, (cell, reading) in zip(("execution_weight", "execution_rate", "execution_score"), readings[3:]):
            draft.put(path, reading.value, cell)
        return
    rate = next(((cell, reading) for cell, reading in readings[3:] if "%" in cell.text), None)
    if rate is not None:
        draft.put("execution_rate", rate[1].value, rate[0])
    draft.doubt(["funds.initial", "funds.planned.total", "funds.executed.total", "execution_rate"],
                f"the 年度总额 row has {len(readings)} numbers where the form prints 6", kind="shifted-cells",
                values=[cell.text for cell, _ in readings])


def _read_total_from_right(row: Row, draft: Draft) -> None:
    """总分 | … | 分值 | 得分 (| 等级): the last number is the score."""
    numbers = [cell for cell in row.cells if cell.text and is_numeric_cell(cell.text)]
    if numbers:
        draft.put("total_score", read_number(numbers[-1].text).value, numbers[-1])
    grade = next((cell for cell in row.cells if normalise(cell.text) in _GRADES), None)
    if grade is not None:
        draft.put("grade", normalise(grade.text), grade)


def _put_goal_funds(draft: Draft, funds: dict[str, tuple[Cell, float]]) -> None:
    if not funds:
        return
    mapping = {"funds_annual_total": "total", "line_city": "city"}
    for key, name in mapping.items():
        if key in funds:
            draft.put(f"funds.planned.{name}", funds[key][1], funds[key][0])
    central = [funds[key] for key in ("line_central", "line_provincial") if key in funds]
    if central:
        draft.put("funds.planned.central_provincial", sum(value for _, value in central), central[0][0])
    other = [funds[key] for key in ("line_self", "line_other") if key in funds]
    if other:
        draft.put("funds.planned.other", sum(value for _, value in other), other[0][0])


def _read_goal_indicators(rows: list[Row], draft: Draft) -> None:
    """The 年度目标 half (right) of a goal form: category, name, 指标值."""
    rows = _without_repeated_headers(rows)
    indicators: list[Indicator] = []
    evidence: list[dict[str, Cell]] = []
    doubts: list[tuple[int, str, str]] = []
    level1 = level2 = None
    in_footer = False
    for row in rows:
        if in_footer or find_labels(row, "other", keys={"project_lead", "handler", "fill_date", "phone"}):
            _read_goal_footer(row, draft)
            in_footer = True
            continue
        parsed = classify_indicator_row(row)
        if parsed.level1 is not None:
            level1 = parsed.level1.canonical
        found = _right_half(row.cells)
        if found is None:
            continue
        level2_right, name_cell, value_cell = found
        if level2_right is not None:
            level2 = level2_right
            level1 = level1_of(level2) or level1
        if name_cell is None or not name_cell.text or _is_placeholder(name_cell.text):
            continue
        index = len(indicators)
        indicators.append(Indicator(level1=level1, level2=level2, name=name_cell.text, target=_text(value_cell)))
        cited = {"name": name_cell}
        if value_cell is not None and value_cell.text:
            cited["target"] = value_cell
        evidence.append(cited)
        if level2 is None:
            doubts.append((index, "level2", "no 二级指标 for this row"))
    _commit_indicators(draft, indicators, evidence, doubts)


def _read_goal_footer(row: Row, draft: Draft) -> None:
    for hit in find_labels(row, "other", keys={"project_lead", "phone", "fill_date"}):
        cell = value_after(row, hit, template="other")
        if cell is not None:
            _put_simple(draft, hit.key, cell, row)


def _right_half(cells: list[Cell]) -> tuple[str | None, Cell | None, Cell | None] | None:
    """The last (level2, name, value) of a two-half goal row, by position after its level2 cell."""
    strong = []
    for position, cell in enumerate(cells):
        if cell.text and len(normalise(cell.text)) <= 12:
            found = canonical_level2(cell.text)
            if found is not None and found.score >= 90:
                strong.append((position, found.canonical))
    if strong:
        position, level2 = strong[-1]
        name = cells[position + 1] if position + 1 < len(cells) else None
        value = cells[position + 2] if position + 2 < len(cells) else None
        return level2, name, value
    texts = [cell for cell in cells if cell.text]
    if len(texts) >= 2:
        return None, texts[-2], texts[-1]
    return None


# ----------------------------------------------------------------------------------------------
# transfer-payment form


def _read_transfer(grid: Grid, draft: Draft) -> None:
    template = "transfer-payment"
    _put_year_near_title(grid, draft)
    rows = grid.rows
    header_index = next((i for i, row in enumerate(rows) if _is_indicator_header(row)), None)
    head = rows[:header_index] if header_index is not None else rows
    line_keys = {"funds_total_row": "total", "line_central_provincial": "central_provincial",
                 "line_provincial": "central_provincial", "line_city": "city", "line_county": "county",
                 "line_other": "other"}
    for position, row in enumerate(head):
        hits = find_labels(row, template)
        keys = [hit.key for hit in hits]
        fund_hits = [hit for hit in hits if hit.key in line_keys]
        if fund_hits:
            hit = fund_hits[0]
            line = line_keys[hit.key]
            numbers = [(cell, read_number(cell.text, money=True)) for cell in row.cells[hit.index + hit.span:]
                       if cell.text and is_numeric_cell(cell.text)]
            numbers = [(cell, reading) for cell, reading in numbers if reading is not None]
            for column, (cell, reading) in zip(("planned", "executed"), numbers):
                path = f"funds.{column}.{line}"
                if draft.has(path) and hit.key == "line_provincial":
                    previous = getattr(getattr(draft.record.funds, column), line)
                    draft.record.evidence.pop(path, None)
                    setattr(getattr(draft.record.funds, column), line, None)
                    draft.put(path, previous + reading.value, cell)
                else:
                    draft.put(path, reading.value, cell)
            if line == "total" and len(numbers) >= 3:
                draft.put("execution_rate", numbers[2][1].value, numbers[2][0])
            elif line == "total":
                draft.doubt("execution_rate", "no 预算执行率 on the 年度资金总额 row", kind="missing-value")
            continue
        if "goal_annual" in keys or "goals_section" in keys and "goal_achieved" in keys:
            _read_goal_pair(head[position + 1:], draft, ("goals.annual", "goals.achieved"))
            continue
        _put_identity(row, hits, draft, template)
    if header_index is None:
        draft.doubt("indicators", "no indicator header row was found", kind="missing-section")
        return
    body: list[Row] = []
    for position, row in enumerate(rows[header_index + 1:], start=header_index + 1):
        hits = find_labels(row, template, keys={"remarks"})
        if hits and hits[0].index <= 1:
            text, cell = (hits[0].remainder, hits[0].cell) if hits[0].remainder else _text_after(row, hits[0].index + 1)
            if text and cell is not None:
                answer = _FORM_INSTRUCTION.sub("", _continued(text, cell, rows[position + 1:]))
                draft.put("narrative.conclusion", answer or None, cell)
            break
        body.append(row)
    _read_city_like_indicators(body, draft)


_FORM_INSTRUCTION = re.compile(r"^\s*请(?:在此处|在此)?[^。]{0,80}?(?:填无|填写|说明)[^。]{0,40}。\s*")
"""The form's own prompt printed in the 说明 cell ("请在此处简要说明…如没有请填无。"): not the answer."""


def _read_city_like_indicators(rows: list[Row], draft: Draft) -> None:
    """Transfer rows: name, 指标值, 全年实际完成值, 未完成原因 — no scores."""
    rows = _without_repeated_headers(rows)
    indicators: list[Indicator] = []
    evidence: list[dict[str, Cell]] = []
    doubts: list[tuple[int, str, str]] = []
    level1 = level2 = None
    for row in rows:
        parsed = classify_indicator_row(row)
        if parsed.level1 is not None:
            level1 = parsed.level1.canonical
            level2 = None
        if parsed.level2 is not None:
            level2 = parsed.level2.canonical
            if level1_of(level2) and level2 != "成本指标":
                level1 = level1_of(level2)
        values = parsed.values
        name_cell = next((cell for cell in values if cell.text), None)
        if name_cell is None or _is_placeholder(name_cell.text):
            continue
        after = values[values.index(name_cell) + 1:]
        target = after[0] if after else None
        actual = after[1] if len(after) > 1 else None
        notes = [cell for cell in after[2:] if cell.text]
        index = len(indicators)
        indicators.append(Indicator(level1=level1, level2=level2, name=name_cell.text, target=_text(target),
                                    actual=_text(actual), note="".join(c.text for c in notes) or None))
        cited = {"name": name_cell}
        for key, cell in (("target", target), ("actual", actual)):
            if cell is not None and cell.text:
                cited[key] = cell
        if notes:
            cited["note"] = notes[0]
        if level2 is None:
            doubts.append((index, "level2", "no 二级指标 for this row"))
        evidence.append(cited)
    _commit_indicators(draft, indicators, evidence, doubts)


_READERS: dict[str, Callable[[Grid, Draft], None]] = {
    "city-project": _read_city,
    "province-project": _read_province,
    "transfer-payment": _read_transfer,
    "other": _read_other,
}
