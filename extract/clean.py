"""Stage 3, clean: a table's lines to a ``Grid`` of repaired cells.

OCR of scanned disclosures leaves a watermark (仅供内部审核, often garbled) on
every page, variant or traditional glyphs where the print was simplified,
spaces inside numbers ("30. 01") and words, HTML and LaTeX fragments from the
OCR model's own markup. The repairs themselves live in ``extract.repair``; this
stage applies them cell by cell, and each cell keeps the line it came from so
later stages can give evidence without looking back at the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from extract.load import Document
from extract.repair import clean_cell, is_watermark
from extract.segment import TableSpan


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
    return grid


def _trim_trailing_empty(cells: list[Cell]) -> list[Cell]:
    end = len(cells)
    while end and not cells[end - 1].text:
        end -= 1
    return cells[:end]


