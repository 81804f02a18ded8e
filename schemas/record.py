"""The self-evaluation record: the single source of truth of the interchange format.

Every consumer (the JSONL writer, the store, the review page, the scorer, the
LLM response model) derives from these models, so the format described in
``shared/spec/record-format.md`` lives here and nowhere else.
"""

from __future__ import annotations

import datetime as _dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

FORMAT_VERSION = 1

TemplateName = Literal["city-project", "province-project", "transfer-payment", "other"]
TEMPLATES: tuple[str, ...] = ("city-project", "province-project", "transfer-payment", "other")
Severity = Literal["error", "warning"]
Backend = Literal["rules", "llm", "hybrid"]


def _plain_number(value: float | None) -> float | int | None:
    """Write 8 rather than 8.0: the format shows numbers as the table printed them."""
    if value is None:
        return None
    if float(value).is_integer() and abs(value) < 1e15:
        return int(value)
    return value


Number = Annotated[float, PlainSerializer(_plain_number, return_type=Any)]
"""A JSON number that serialises integral values without a trailing ``.0``."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Source(_Model):
    """Where the table sits in its input file (1-based, inclusive line numbers)."""

    doc: str
    start_line: int = Field(ge=1)
    end_line: int = Field(ge=1)


class FundLine(_Model):
    """One money line of the form (万元) and its split by source of funds."""

    total: Number | None = None
    central_provincial: Number | None = None
    city: Number | None = None
    county: Number | None = None
    other: Number | None = None


class Funds(_Model):
    planned: FundLine | None = None
    received: FundLine | None = None
    executed: FundLine | None = None
    declared: Number | None = None
    initial: Number | None = None
    balance: Number | None = None


class Goals(_Model):
    output: str | None = None
    effect: str | None = None
    annual: str | None = None
    achieved: str | None = None


class Indicator(_Model):
    """One 三级指标 row, with its canonical level1/level2 categories."""

    level1: str | None = None
    level2: str | None = None
    name: str | None = None
    target: str | None = None
    adjusted_target: str | None = None
    actual: str | None = None
    weight: Number | None = None
    score: Number | None = None
    note: str | None = None


class CategoryScore(_Model):
    level1: str
    weight: Number | None = None
    score: Number | None = None


class Narrative(_Model):
    conclusion: str | None = None
    experience: str | None = None
    problems: str | None = None
    next_steps: str | None = None


class Evidence(_Model):
    """The input line a value was read from, so a reviewer can see it in context."""

    line: int = Field(ge=1)
    text: str


class Flag(_Model):
    """A broken rule or a doubtful reading, naming the fields it concerns by path."""

    rule: str
    severity: Severity
    fields: list[str] = Field(default_factory=list)
    message: str
    values: dict[str, Any] = Field(default_factory=dict)


class ExtractorInfo(_Model):
    backend: Backend
    model: str | None = None
    version: str
    prompt_version: str | None = None


class Correction(_Model):
    """A reviewer's change of one field; the record's value is the corrected one."""

    field: str
    old: Any = None
    new: Any = None
    by: str
    at: _dt.datetime
    note: str | None = None


class TableContent(_Model):
    """The fields that describe the printed table: what gold files and records share."""

    format_version: Literal[1] = FORMAT_VERSION
    source: Source
    template: TemplateName
    title: str | None = None
    project_name: str | None = None
    department: str | None = None
    department_code: str | None = None
    implementing_unit: str | None = None
    implementing_unit_code: str | None = None
    project_lead: str | None = None
    phone: str | None = None
    period: str | None = None
    eval_year: int | None = None
    fill_date: _dt.date | None = None
    funds: Funds = Field(default_factory=Funds)
    execution_rate: Number | None = None
    execution_score: Number | None = None
    execution_weight: Number | None = None
    goals: Goals = Field(default_factory=Goals)
    indicators: list[Indicator] = Field(default_factory=list)
    category_scores: list[CategoryScore] = Field(default_factory=list)
    total_score: Number | None = None
    grade: Literal["优", "良", "中", "差"] | None = None
    narrative: Narrative = Field(default_factory=Narrative)


class Record(TableContent):
    """What the toolkit writes for one table: the content plus how it was extracted."""

    evidence: dict[str, Evidence] = Field(default_factory=dict)
    flags: list[Flag] = Field(default_factory=list)
    extractor: ExtractorInfo | None = None
    corrections: list[Correction] = Field(default_factory=list)


class GoldRecord(TableContent):
    """A hand-annotated record; ``uncertain`` lists paths whose truth cannot be known."""

    uncertain: list[str] = Field(default_factory=list)
    gold_notes: list[str] = Field(default_factory=list)


class ErrorEntry(_Model):
    """A table or document that could not become a record, and why; nothing is dropped silently."""

    kind: Literal["error"] = "error"
    doc: str
    start_line: int | None = None
    end_line: int | None = None
    stage: str
    message: str
