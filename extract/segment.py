"""Stage 2, segment: find every self-evaluation table in a document.

A table is recognised by its *header block*, a cluster of form labels (项目名称,
主管部门, 项目负责人, 预算单位, …) within a few lines, not by its title alone:
titles are garbled, duplicated or missing, and the narrative mentions
"…绩效自评表" where no table follows. A title line shortly before a header block
becomes the table's first line. Each table runs to the line before the next
one starts. The template is decided by which form's distinctive labels the
span contains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process

from extract.load import Document
from extract.match import normalise
from extract.repair import clean_cell, is_watermark

TITLE_LOOKBACK = 8
"""How many content lines above a header block a title may stand (单位/填报日期 lines sit between)."""
RUN_GAP = 2
"""Label lines at most this many content lines apart belong to one header block (blank and
watermark lines, which page breaks put inside a header, do not count)."""

_HEADER_LABELS = (
    "项目名称", "项目负责人", "主管部门", "实施单位", "联系电话", "项目起止时间", "主管部门及代码", "预算单位",
    "项目预算金额", "项目属性", "项目资金预算安排及执行进度", "转移支付项目名称", "中央主管部门", "地方主管部门",
    "资金使用单位", "实际到位金额", "部门(单位)名称", "部门名称", "年度主要任务", "任务名称", "主要内容", "年度部门整体支出预算执行情况",
    "年度总体目标", "年度绩效指标",
)
_LONG_HEADER_LABELS = tuple(label for label in _HEADER_LABELS if len(label) >= 4)
_LABEL_HINTS = tuple({label[i:i + 2] for label in _HEADER_LABELS for i in range(0, len(label) - 1, 2)})
"""Two-character pieces of the header labels: a line holding none of them holds no label, even garbled."""
_HINT_PATTERN = re.compile("|".join(sorted(_LABEL_HINTS)))
_WATERMARK_GLYPHS = frozenset("供烘拱")
"""A line of three or more cells with no label piece and no watermark glyph is only "content" to the
segmenter (titles are lines of one or two cells), so it is not repaired here."""
_NAME_LABELS = ("项目名称", "转移支付项目名称", "转移支付名称")
_ANCHOR_LABELS = ("项目名称", "主管部门", "预算单位", "实施单位", "项目预算金额", "项目资金预算安排及执行进度",
                  "转移支付项目名称", "地方主管部门", "资金使用单位", "项目属性", "部门(单位)名称", "部门名称", "年度主要任务")
"""A header block needs one of these: a footer of 负责人/联系电话/填报日期 is not a table."""

_TEMPLATE_MARKERS: dict[str, tuple[str, ...]] = {
    "city-project": ("项目负责人", "实际到位金额", "项目执行情况", "项目预算金额", "项目起止时间", "绩效自评评价年度",
                     "实际执行金额", "其中中央省财政", "项目预期绩效目标", "自评结论及结果分析"),
    "province-project": ("项目资金预算安排及执行进度", "年初预算数", "全年预算数", "全年执行数", "目标申报数", "预算编制数",
                         "调整后指标值", "定性指标情况说明", "项目绩效分析", "资金结转余"),
    "transfer-payment": ("中央主管部门", "地方主管部门", "资金使用单位", "转移支付", "资金管理情况", "资金投入情况",
                         "全年实际完成值", "总体目标完成情况"),
    "other": ("项目属性", "实施期目标", "实施期资金总额", "项目期", "立项依据", "项目设立必要性", "保证项目实施的制度措施",
              "部门(单位)名称", "年度主要任务", "年度总体目标", "年度绩效指标", "部门整体"),
}

_TITLE_FORMS = ("项目支出绩效自评表", "绩效目标自评表", "绩效自评表", "自评表")
_YEAR_NOTE = re.compile(r"[(（]\s*(\d{4})\s*年度?\s*[)）]")


@dataclass(frozen=True)
class TableSpan:
    """One table's place in the document (1-based, inclusive) and its printed form."""

    doc: str
    start_line: int
    end_line: int
    template: str
    title: str | None
    title_line: int | None
    header_line: int


def segment(document: Document) -> list[TableSpan]:
    """All self-evaluation tables of a document, in order."""
    cleaned = [_clean_line(text) for text in document.lines]
    headers = _header_blocks(cleaned)
    spans: list[TableSpan] = []
    starts: list[tuple[int, int | None, int]] = []
    previous_header = 0
    for header in headers:
        title_line = _title_above(cleaned, header, floor=previous_header)
        start = title_line if title_line is not None else _block_top(cleaned, header, floor=previous_header)
        starts.append((start, title_line, header))
        previous_header = header
    for position, (start, title_line, header) in enumerate(starts):
        next_start = starts[position + 1][0] if position + 1 < len(starts) else len(cleaned) + 1
        end = _last_content_line(cleaned, start, next_start - 1)
        title = _title_text(cleaned, title_line) if title_line else None
        template = classify(cleaned[start - 1:end], title)
        spans.append(TableSpan(document.name, start, end, template, title, title_line, header))
    return spans


def _clean_line(text: str) -> list[str]:
    """The line's non-empty cells; repaired only where a title or a label may hide (the rest of
    a disclosure is long narrative that segmentation only needs to see as "content")."""
    stripped = text.strip()
    if not stripped:
        return []
    parts = text.split("\t")
    raw = [part.strip() for part in parts if part.strip()]
    if len(raw) > 2 and not _HINT_PATTERN.search(stripped) and _WATERMARK_GLYPHS.isdisjoint(stripped):
        return raw
    if is_watermark(stripped):
        return []
    return [cell for cell in (clean_cell(part) for part in parts) if cell]


@lru_cache(maxsize=100_000)
def _is_header_label(cell: str) -> bool:
    key = normalise(cell)
    if not key or len(key) > 16:
        return False
    if key.startswith(_LONG_HEADER_LABELS) or key in _HEADER_LABELS:
        return True
    if len(key) < 3:
        return False
    found = process.extractOne(key, _HEADER_LABELS, scorer=fuzz.ratio, score_cutoff=80)
    return found is not None and abs(len(key) - len(found[0])) <= 2


def _line_labels(cells: list[str]) -> tuple[int, bool]:
    """How many header labels a line holds (a label split over two cells counts once), and whether one anchors."""
    found = 0
    anchored = False
    skip = False
    for index, cell in enumerate(cells):
        if skip:
            skip = False
            continue
        label = cell
        if not _is_header_label(cell):
            if index + 1 < len(cells) and len(normalise(cell)) <= 3 and _is_header_label(cell + cells[index + 1]):
                label = cell + cells[index + 1]
                skip = True
            else:
                continue
        found += 1
        key = normalise(label)
        anchored = anchored or any(fuzz.ratio(key[:len(anchor) + 2], anchor) >= 80 or key.startswith(anchor)
                                   for anchor in _ANCHOR_LABELS)
    return found, anchored


def _header_blocks(cleaned: list[list[str]]) -> list[int]:
    """First line (1-based) of each header block: a run of label lines (gaps of at most
    ``RUN_GAP`` lines) holding at least three labels, one of them an anchor label."""
    counts = {number: _line_labels(cells) for number, cells in enumerate(cleaned, 1)
              if cells and _HINT_PATTERN.search("\t".join(cells))}
    label_lines = sorted(number for number, found in counts.items() if found[0])
    content_index = {}
    position = 0
    for number, cells in enumerate(cleaned, 1):
        if cells:
            position += 1
        content_index[number] = position
    runs: list[list[int]] = []
    for number in label_lines:
        if runs and content_index[number] - content_index[runs[-1][-1]] <= RUN_GAP:
            runs[-1].append(number)
        else:
            runs.append([number])
    blocks = []
    for run in runs:
        if sum(counts[n][0] for n in run) >= 3 and any(counts[n][1] for n in run):
            blocks.append(run[0])
    return blocks


def is_title(cells: list[str]) -> bool:
    """A short line that reads as a self-evaluation table title."""
    if not cells or len(cells) > 2:
        return False
    text = normalise("".join(cells))
    if len(text) > 80 or text.startswith(("附件", "详见")) or "部门整体" in text and not text.endswith("表"):
        return False
    if any(form in text for form in _TITLE_FORMS):
        return True
    tail = text[-10:]
    return len(text) >= 6 and fuzz.partial_ratio("绩效自评表", tail) >= 80 and tail.endswith(("表", "评"))


def _title_above(cleaned: list[list[str]], header: int, floor: int) -> int | None:
    """The title within ``TITLE_LOOKBACK`` content lines above the header (watermark lines,
    which page breaks put between a title and its table, are empty here and do not count)."""
    found = None
    content = 0
    for number in range(header - 1, floor, -1):
        cells = cleaned[number - 1]
        if not cells:
            continue
        content += 1
        if content > TITLE_LOOKBACK:
            break
        if is_title(cells):
            found = number
        elif found is not None:
            break
    return found


def _block_top(cleaned: list[list[str]], header: int, floor: int) -> int:
    """Without a title, take the short lines (unit stamp, fill date, project name) above the header."""
    top = header
    for number in range(header - 1, max(floor, header - 6), -1):
        cells = cleaned[number - 1]
        if not cells:
            continue
        text = normalise("".join(cells))
        if len(cells) <= 2 and len(text) <= 40 and not text.endswith(("。", "；")):
            top = number
        else:
            break
    return top


def _last_content_line(cleaned: list[list[str]], start: int, limit: int) -> int:
    end = limit
    while end > start and (not cleaned[end - 1] or _is_attachment_marker(cleaned[end - 1])):
        end -= 1
    return end


def _is_attachment_marker(cells: list[str]) -> bool:
    text = normalise("".join(cells))
    return len(text) <= 6 and text.startswith(("附件", "附录", "附表"))


def _title_text(cleaned: list[list[str]], title_line: int) -> str:
    text = "".join(cleaned[title_line - 1])
    return _YEAR_NOTE.sub("", text).strip()


def classify(lines: list[list[str]], title: str | None) -> str:
    """The template whose distinctive labels the span holds most of."""
    body = "|".join(normalise(cell) for cells in lines[:60] for cell in cells)
    scores = {name: sum(marker in body for marker in markers) for name, markers in _TEMPLATE_MARKERS.items()}
    title_key = normalise(title or "")
    if "转移支付" in title_key:
        scores["transfer-payment"] += 3
    if "部门整体" in title_key or "整体支出" in title_key:
        scores["other"] += 3
    if title_key.endswith("项目支出绩效自评表"):
        scores["city-project"] += 1
        scores["province-project"] += 1
    best = max(scores, key=lambda name: (scores[name], name == "city-project"))
    return best if scores[best] >= 2 else "other"
