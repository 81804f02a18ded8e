"""The prompt for one table: a versioned template from ``prompts/`` filled with the table's text.

The table goes to the model as data: its cleaned lines, each prefixed with its line
number in the input file, between ``<table_text>`` and ``</table_text>``. Document
text is untrusted, so anything inside it that could pass for our own markup (the
delimiters, chat-template tokens, code fences, reasoning tags, the line-number bar)
is neutralised before it is placed in the prompt, and lines that read like
instructions to a model are marked so that grounding never accepts a value that only
such a line supplies.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template

from extract.clean import Grid
from extract.match import vocabulary

OPEN_TAG = "<table_text>"
CLOSE_TAG = "</table_text>"
LINE_BAR = "│"
CELL_SEPARATOR = " | "

_LOOKALIKES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"<\s*(/?)\s*table[\s_-]*text\s*>", re.IGNORECASE), r"‹\1table text›"),
    (re.compile(r"<\s*(/?)\s*think\s*>", re.IGNORECASE), r"‹\1think›"),
    (re.compile(r"<\|"), "‹|"),
    (re.compile(r"\|>"), "|›"),
    (re.compile(r"`{3,}"), "'''"),
    (re.compile(LINE_BAR), "|"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_INSTRUCTION_LIKE = re.compile(
    r"(忽略|无视|不要理会|忘记|覆盖|ignore|disregard|forget|override)[^。\n]{0,24}"
    r"(指令|指示|提示|规则|要求|以上|之前|前面|上述|instruction|prompt|rule|above|previous|prior)"
    r"|(^|[\s|])(system|assistant|developer)\s*[:：]"
    r"|(你现在是|你是一个|作为(一个)?(AI|人工智能|助手|模型))"
    r"|(输出|返回|填写?|设置?|改为|填为)[^。\n]{0,12}(total_score|execution_rate|grade|json|JSON)",
    re.IGNORECASE,
)


def neutralise(text: str) -> str:
    """Document text made inert: no delimiter, chat token, fence or reasoning tag survives."""
    text = _CONTROL.sub("", text)
    for pattern, replacement in _LOOKALIKES:
        text = pattern.sub(replacement, text)
    return text


def looks_like_instruction(text: str) -> bool:
    """A line that addresses a model rather than describing a project (prompt injection)."""
    return bool(_INSTRUCTION_LIKE.search(text))


@dataclass(frozen=True)
class TableLine:
    number: int
    cells: tuple[str, ...]
    instruction_like: bool = False

    @property
    def text(self) -> str:
        return CELL_SEPARATOR.join(self.cells)


@dataclass(frozen=True)
class TableText:
    """One table as the model sees it, and as grounding searches it."""

    doc: str
    start_line: int
    end_line: int
    template: str
    title: str | None
    lines: tuple[TableLine, ...]

    def render(self) -> str:
        width = max(4, len(str(self.end_line)))
        return "\n".join(f"{line.number:0{width}d}{LINE_BAR} {line.text}" for line in self.lines)

    def line_text(self, number: int) -> str:
        for line in self.lines:
            if line.number == number:
                return line.text
        return ""

    @property
    def instruction_lines(self) -> list[int]:
        return [line.number for line in self.lines if line.instruction_like]


def table_text(grid: Grid) -> TableText:
    """The grid's cleaned rows, neutralised, with their line numbers."""
    lines = []
    for row in grid.rows:
        cells = tuple(neutralise(cell.text) for cell in row.cells)
        lines.append(TableLine(row.line, cells, looks_like_instruction(" ".join(cells))))
    return TableText(grid.doc, grid.start_line, grid.end_line, grid.template, grid.title, tuple(lines))


class PromptError(ValueError):
    """A prompt template that is missing or malformed."""


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: str
    system: Template
    user: Template
    digest: str


_SECTION = re.compile(r"^=== (system|user) ===\s*$", re.MULTILINE)
_VERSION = re.compile(r"^version:\s*(\S+)\s*$", re.MULTILINE)


@cache
def load_template(template: str) -> PromptTemplate:
    """``prompts/<template>.txt``: a ``version:`` line, then ``=== system ===`` and ``=== user ===``."""
    name = template if template in ("city-project", "province-project", "transfer-payment") else "other"
    try:
        source = resources.files("prompts").joinpath(f"{name}.txt").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptError(f"prompt template prompts/{name}.txt is missing") from None
    version = _VERSION.search(source)
    parts = _SECTION.split(source)
    if version is None or len(parts) != 5 or parts[1] != "system" or parts[3] != "user":
        raise PromptError(f"prompts/{name}.txt needs a 'version:' line and '=== system ===' then '=== user ==='")
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]
    return PromptTemplate(name, version.group(1), Template(parts[2].strip()), Template(parts[4].strip()), digest)


@dataclass(frozen=True)
class Prompt:
    messages: tuple[dict[str, str], ...]
    version: str
    """``<template>/<version>``: goes into the cache key and the record's ``extractor.prompt_version``."""
    table: TableText

    def as_messages(self) -> list[dict[str, str]]:
        return [dict(message) for message in self.messages]


def _names(kind: str) -> str:
    return "、".join(vocabulary("categories")[kind])


def render_prompt(table: TableText) -> Prompt:
    """The chat messages for one table; the template's placeholders are all required."""
    template = load_template(table.template)
    values = {
        "doc": neutralise(table.doc), "start_line": table.start_line, "end_line": table.end_line,
        "template": table.template, "title": neutralise(table.title or "(no title found)"),
        "open_tag": OPEN_TAG, "close_tag": CLOSE_TAG, "table": table.render(),
        "level1_names": _names("level1"), "level2_names": _names("level2"),
    }
    try:
        system = template.system.substitute(values)
        user = template.user.substitute(values)
    except (KeyError, ValueError) as error:
        raise PromptError(f"prompts/{template.name}.txt: bad placeholder {error}") from None
    return Prompt(({"role": "system", "content": system}, {"role": "user", "content": user}),
                  f"{template.name}/{template.version}", table)
