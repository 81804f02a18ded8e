"""Stage 3, clean: a table's lines to a ``Grid`` of repaired cells.

OCR of scanned disclosures leaves a watermark (仅供内部审核, often garbled) on
every page, variant or traditional glyphs where the print was simplified,
spaces inside numbers ("30. 01") and words, HTML and LaTeX fragments from the
OCR model's own markup. The repairs themselves live in ``extract.repair``; this
stage applies them cell by cell, and each cell keeps the line it came from so
later stages can give evidence without looking back at the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from extract.load import Document
from extract.match import canonical_level1, canonical_level2, match_label, strip_weight
from extract.repair import clean_cell, is_watermark
from extract.segment import TableSpan
from extract.values import looks_like_value


@dataclass(frozen=True)
class Cell:
    text: str
    line: int
    col: int


@dataclass
class Row:
    line: int
    cells: list[Cell]
    raw: str = ""

    @property
    def texts(self) -> list[str]:
        return [cell.text for cell in self.cells]

    def nonempty(self) -> list[Cell]:
        return [cell for cell in self.cells if cell.text]

    def joined(self, sep: str = "") -> str:
        return sep.join(cell.text for cell in self.cells if cell.text)


@dataclass
class Grid:
    """The cleaned rows of one table, each cell knowing its source line."""

    doc: str
    start_line: int
    end_line: int
    template: str
    title: str | None
    rows: list[Row] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    raw_lines: dict[int, str] = field(default_factory=dict)


def clean(document: Document, span: TableSpan) -> Grid:
    """Turn the lines of one table span into a grid of repaired cells."""
    grid = Grid(doc=document.name, start_line=span.start_line, end_line=span.end_line,
                template=span.template, title=span.title)
    for number in range(span.start_line, span.end_line + 1):
        raw = document.line(number)
        grid.raw_lines[number] = raw
        if not raw.strip() or is_watermark(raw.strip()):
            continue
        cells = [Cell(clean_cell(text), number, col) for col, text in enumerate(raw.split("\t"))]
        cells = _trim_trailing_empty(cells)
        if any(cell.text for cell in cells):
            grid.rows.append(Row(line=number, cells=cells, raw=raw))
    grid.rows = join_wrapped_rows(grid.rows, span.template)
    return grid


_COLUMN_HEADERS = ("一级指标", "二级指标", "三级指标", "年度指标值", "全年完成值", "指标值", "年初指标值",
                   "实际完成值", "全年实际完成值")
_HEADER_TAIL = re.compile(r"得分|分值|原因|措施|说明|指标值|完成值")
"""Column headers that close an indicator header row; a wrapped header cell is followed only by these."""
_NUMBERING = re.compile(r"^指标\s*\d")


def join_wrapped_rows(rows: list[Row], template: str) -> list[Row]:
    """Rejoin a row that a line break inside one of its cells cut over two lines.

    The OCR writes a cell's internal line break as a real one: "项目负责" ends a
    line and "人\t\t王建军…" starts the next, so the label loses its value and
    the tail looks like a row of its own. A pair is joined only when the next
    line's first cell cannot start a row by itself and the joined cell reads
    better than its halves (``_continues``).

    A label cell wrapped in a row whose other cells hold one line each leaves
    its tail alone on the next line ("自评结论及结\t本项目…" then "果分析"); that
    tail goes back to the label (``_ends_first_label``)."""
    joined: list[Row] = []
    for row in rows:
        previous = joined[-1] if joined else None
        if previous is not None and _continues(previous, row, template):
            head, tail = previous.cells[-1], row.cells[0]
            cells = previous.cells[:-1] + [Cell(head.text + tail.text, head.line, head.col)]
            offset = head.col
            cells += [Cell(cell.text, cell.line, cell.col + offset) for cell in row.cells[1:]]
            joined[-1] = Row(line=previous.line, cells=cells, raw=previous.raw + row.raw)
        elif previous is not None and _ends_first_label(previous, row, template):
            head = previous.cells[0]
            cells = [Cell(head.text + row.cells[0].text, head.line, head.col)] + previous.cells[1:]
            joined[-1] = Row(line=previous.line, cells=cells, raw=previous.raw)
        else:
            joined.append(row)
    return joined


def _continues(previous: Row, row: Row, template: str) -> bool:
    """``row`` carries on the last cell of ``previous`` (see ``join_wrapped_rows``)."""
    if row.line != _last_line(previous) + 1 or not previous.cells or not row.cells:
        return False
    if previous.raw.endswith(("\t", " ")) or row.raw.startswith(("\t", " ")) or "\t" not in row.raw:
        return False
    head, tail = previous.cells[-1].text, row.cells[0].text
    if not head or not tail or len(tail) > 6 or _starts_a_row(tail, template):
        return False
    label, weight = strip_weight(tail)
    if weight is not None and not label:  # "产出指标" then "（50分）"
        return canonical_level1(head) is not None
    if _completes_label(head, tail, template):
        return True
    following = [cell.text for cell in row.cells[1:] if cell.text]
    if sum(text in _COLUMN_HEADERS for text in previous.texts) >= 2:
        return bool(following) and all(_HEADER_TAIL.search(text) for text in following)
    return (len(head) >= 6 and len(tail) <= 4 and bool(following) and looks_like_value(following[0])
            and not re.search(r"[\d%％]", head + tail))


def _ends_first_label(previous: Row, row: Row, template: str) -> bool:
    """``row`` is only the tail of the label that opens ``previous``."""
    if row.line != _last_line(previous) + 1 or len(row.cells) != 1 or "\t" in row.raw.strip():
        return False
    head, tail = previous.cells[0].text, row.cells[0].text
    if not head or not tail or len(tail) > 6 or _starts_a_row(tail, template):
        return False
    return _completes_label(head, tail, template)


def _completes_label(head: str, tail: str, template: str) -> bool:
    """``head + tail`` is a known label printed whole, and ``head`` alone is not."""
    label = match_label(head + tail, template)
    if label is None or label.score < 100 or label.remainder:
        return False
    alone = match_label(head, template)
    return alone is None or alone.score < 100


def _starts_a_row(text: str, template: str) -> bool:
    """A cell that opens rows on its own: a label, a category, a numbering, a number."""
    if _NUMBERING.match(text) or re.fullmatch(r"[\d.,%％\s-]+", text):
        return True
    if canonical_level1(text) is not None or canonical_level2(text) is not None:
        return True
    found = match_label(text, template)
    return found is not None and found.score >= 90


def _last_line(row: Row) -> int:
    return max(cell.line for cell in row.cells)


def _trim_trailing_empty(cells: list[Cell]) -> list[Cell]:
    end = len(cells)
    while end and not cells[end - 1].text:
        end -= 1
    return cells[:end]


