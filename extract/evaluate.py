"""Score extracted records against the gold set: what is right, what is wrong, and what is wrong *silently*.

The extractor exists to drive one number to zero: the **silent error rate**, the share of
fields that are wrong and carry no flag naming them. Everything else here (detection,
accuracy, precision/recall, texts) gives that number its context.

Which fields are scored
=======================

*Tables* are matched first. Within one ``source.doc``, a gold and a predicted record are
the same table when their line spans overlap with an intersection-over-union of at least
``TABLE_MIN_IOU`` (0.5), pairs taken best overlap first, one to one. Detection recall is
matched gold / gold tables, precision is matched pred / pred tables. Predicted records of
a document that has no gold record at all are ignored (listed as ``ignored_pred_docs``),
so a partly annotated gold set does not punish the extractor for tables nobody annotated.

*Fields* are the leaves of ``schemas.record.TableContent`` except ``format_version`` and
``source``:

- the scalar fields, with ``template`` counted as a field, and ``funds.planned`` /
  ``funds.received`` / ``funds.executed`` always expanded to their five keys (a ``null``
  fund line reads as five ``null`` values, so "no such line" and "a line with nothing
  printed" score alike);
- per gold indicator, its nine keys (``indicators[i].level1`` … ``.note``). Indicators are
  aligned by name, order-preserving (a Needleman-Wunsch/weighted-LCS alignment maximising
  the summed rapidfuzz similarity of the normalised names; a pair needs a similarity of at
  least ``ALIGN_MIN_SIMILARITY``);
- per gold category score, its three keys, matched to a predicted entry by ``level1``
  (normalised, first unused entry); ``level1`` itself is therefore right whenever matched.

A gold item (indicator or category score) with no partner counts every one of its fields as
wrong, ``null`` ones included: the form has a row and the prediction says nothing about it.
A predicted item with no gold partner counts each of its non-null fields as a wrong field
(a value the form does not have); its ``null`` fields are not scored. A gold table with no
matching prediction counts **all** its fields wrong and unflagged (silent). A predicted
table with no gold partner is a detection error only; its fields are not scored.

Paths listed in a gold record's ``uncertain`` (or below a listed parent path such as
``indicators[4]``) are not scored at all.

*Texts* are ``narrative.*`` and ``goals.*``. They are compared by similarity
(``rapidfuzz.fuzz.ratio`` of the normalised strings, 0…1; both null = 1, one null = 0),
reported apart, and count as correct in field accuracy when the similarity is at least
``TEXT_MATCH_THRESHOLD`` (0.9): long OCR'd paragraphs almost never match character for
character, and 0.9 still tells a right paragraph from a neighbouring one.

How values compare
==================

- ``null`` equals only ``null``.
- Numbers (either side a JSON number) are equal within ``NUMBER_TOLERANCE`` (1e-6) after
  conversion to float; a string that does not convert is unequal.
- Strings are equal after ``normalise_text``: Unicode NFKC (full-width ASCII forms become
  half-width), all whitespace removed, curly quotes to straight quotes, every dash form
  (— – ― ‐ ‑ ‒ −) to ``-``, 【】〔〕 to ``[]``, 〜 to ``~``.
- Dates are compared as ISO strings (the models' JSON form).

Metrics
=======

- field accuracy = correct / scored fields;
- precision = right non-null predicted values / non-null predicted values;
  recall = right non-null gold values / non-null gold values; F1 their harmonic mean;
- silent error rate = wrong fields that no predicted flag covers / scored fields. A flag
  covers a field when one of its ``fields`` paths names the field or a parent of it
  (``funds.executed`` covers ``funds.executed.total``; ``indicators`` covers every
  indicator). Indicator and category-score paths are translated through the alignment: a
  flag on pred ``indicators[3].actual`` covers the gold indicator aligned to pred index 3.
"""

from __future__ import annotations

import math
import re
import types
import typing
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, computed_field
from rapidfuzz import fuzz

from extract.jsonl import JsonLinesError, describe_validation, iter_objects
from schemas.paths import PathError, format_path, parse_path, read_dotted
from schemas.record import (
    CategoryScore,
    ErrorEntry,
    GoldRecord,
    Indicator,
    Record,
    TableContent,
)

TABLE_MIN_IOU = 0.5
ALIGN_MIN_SIMILARITY = 0.5
TEXT_MATCH_THRESHOLD = 0.9
NUMBER_TOLERANCE = 1e-6
DEFAULT_TOP_ERRORS = 20

TEXT_PREFIXES = ("narrative.", "goals.")
_UNSCORED_TOP = frozenset({"format_version", "source", "indicators", "category_scores"})

NORMALISATION = (
    "Strings are compared after NFKC, removal of all whitespace, curly quotes → straight quotes, "
    "dashes (— – ― ‐ ‑ ‒ −) → '-', 【】〔〕 → [], 〜 → ~. Numbers are equal within 1e-6; "
    "dates compare as ISO strings."
)

_PUNCTUATION = str.maketrans(
    {
        "“": '"', "”": '"', "„": '"', "‟": '"', "‘": "'", "’": "'", "‚": "'", "‛": "'",
        "—": "-", "–": "-", "―": "-", "‐": "-", "‑": "-", "‒": "-", "−": "-",
        "【": "[", "】": "]", "〔": "[", "〕": "]", "〜": "~",
    }
)
_WHITESPACE = re.compile(r"\s+")


class EvalInputError(ValueError):
    """A gold or prediction file that cannot be read; the message names the file and line."""


# --------------------------------------------------------------------------------------
# value comparison


def normalise_text(value: str) -> str:
    """The light normalisation of ``NORMALISATION``: OCR spacing and width must not decide a score."""
    text = unicodedata.normalize("NFKC", value)
    text = _WHITESPACE.sub("", text)
    return text.translate(_PUNCTUATION)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def values_equal(gold: Any, pred: Any) -> bool:
    """Whether a predicted value counts as the gold value (see the module docstring)."""
    if gold is None or pred is None:
        return gold is None and pred is None
    if _is_number(gold) or _is_number(pred):
        gold_number, pred_number = _as_float(gold), _as_float(pred)
        if gold_number is None or pred_number is None:
            return False
        return abs(gold_number - pred_number) <= NUMBER_TOLERANCE
    return normalise_text(str(gold)) == normalise_text(str(pred))


def text_similarity(gold: str | None, pred: str | None) -> float:
    """Similarity in 0…1 of two texts after normalisation; null against null is a perfect match."""
    if gold is None or pred is None:
        return 1.0 if gold is None and pred is None else 0.0
    return fuzz.ratio(normalise_text(gold), normalise_text(pred)) / 100.0


def _badness(gold: Any, pred: Any) -> float:
    """How far off a wrong value is (0…1), to list the worst errors first."""
    if gold is None or pred is None:
        return 1.0
    if _is_number(gold) or _is_number(pred):
        gold_number, pred_number = _as_float(gold), _as_float(pred)
        if gold_number is None or pred_number is None:
            return 1.0
        scale = max(abs(gold_number), abs(pred_number), 1e-9)
        return min(1.0, abs(gold_number - pred_number) / scale)
    return 1.0 - fuzz.ratio(normalise_text(str(gold)), normalise_text(str(pred))) / 100.0


# --------------------------------------------------------------------------------------
# which fields exist


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model class inside ``X | None`` (or ``Optional[X]``), if the annotation holds one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _nested_model(arg)
            if found is not None:
                return found
    return None


def _leaf_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    paths: list[str] = []
    for name, info in model.model_fields.items():
        if not prefix and name in _UNSCORED_TOP:
            continue
        nested = _nested_model(info.annotation)
        if nested is not None:
            paths.extend(_leaf_paths(nested, f"{prefix}{name}."))
        else:
            paths.append(f"{prefix}{name}")
    return paths


SCALAR_FIELDS: tuple[str, ...] = tuple(_leaf_paths(TableContent))
"""Every scored field outside the two lists, derived from the models so it cannot drift."""
INDICATOR_FIELDS: tuple[str, ...] = tuple(Indicator.model_fields)
CATEGORY_FIELDS: tuple[str, ...] = tuple(CategoryScore.model_fields)


def is_text_field(key: str) -> bool:
    return key.startswith(TEXT_PREFIXES)


# --------------------------------------------------------------------------------------
# loading


def _describe_validation(error: ValidationError) -> str:
    return describe_validation(error)


def _json_lines(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    try:
        yield from iter_objects(path)
    except JsonLinesError as error:
        raise EvalInputError(str(error)) from None


def gold_files(location: Path) -> list[Path]:
    """The gold JSONL files of a directory (every ``*.jsonl``), or the one file given."""
    if location.is_dir():
        files = sorted(location.glob("*.jsonl"))
        if not files:
            raise EvalInputError(f"{location}: no gold files (*.jsonl)")
        return files
    if location.is_file():
        return [location]
    raise EvalInputError(f"{location}: no such file or directory")


def load_gold(locations: Path | Sequence[Path]) -> list[GoldRecord]:
    """Read gold records; a bad line or an unreadable ``uncertain`` path is an error naming file and line.

    Two gold records for the same lines of a document (line-span IoU at the table-matching
    threshold) are refused too: the second copy, e.g. in another part file, would otherwise
    turn into a "missing table" that no extractor could ever find.
    """
    records: list[GoldRecord] = []
    origins: list[str] = []
    for location in [locations] if isinstance(locations, Path) else locations:
        for path in gold_files(location):
            for number, data in _json_lines(path):
                try:
                    record = GoldRecord.model_validate(data)
                except ValidationError as error:
                    raise EvalInputError(f"{path}:{number}: not a gold record: {_describe_validation(error)}") from None
                for uncertain in record.uncertain:
                    try:
                        parse_path(uncertain)
                    except PathError as error:
                        raise EvalInputError(f"{path}:{number}: uncertain: {error}") from None
                for earlier, origin in zip(records, origins, strict=True):
                    if earlier.source.doc == record.source.doc and _span_iou(earlier, record) >= TABLE_MIN_IOU:
                        raise EvalInputError(
                            f"{path}:{number}: same table as {origin} "
                            f"({record.source.doc} lines {record.source.start_line}–{record.source.end_line})"
                        )
                records.append(record)
                origins.append(f"{path}:{number}")
    return records


def parse_prediction_line(data: dict[str, Any]) -> Record | ErrorEntry:
    """One line of an extractor's output: a record, or an error entry (``"kind": "error"``)."""
    if data.get("kind") == "error":
        return ErrorEntry.model_validate(data)
    return Record.model_validate(data)


def load_predictions(path: Path) -> tuple[list[Record], list[ErrorEntry]]:
    """Read an extractor's JSONL output into records and the error entries it reported."""
    records: list[Record] = []
    errors: list[ErrorEntry] = []
    for number, data in _json_lines(path):
        try:
            item = parse_prediction_line(data)
        except ValidationError as error:
            raise EvalInputError(f"{path}:{number}: not a record: {_describe_validation(error)}") from None
        if isinstance(item, ErrorEntry):
            errors.append(item)
        else:
            records.append(item)
    return records, errors


# --------------------------------------------------------------------------------------
# report models


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


class Tally(BaseModel):
    """Counts over a set of scored fields, with the rates derived from them."""

    scored: int = 0
    correct: int = 0
    silent: int = 0
    flagged_wrong: int = 0
    flagged_correct: int = 0
    gold_non_null: int = 0
    pred_non_null: int = 0
    true_positive: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def wrong(self) -> int:
        return self.scored - self.correct

    @computed_field  # type: ignore[prop-decorator]
    @property
    def accuracy(self) -> float | None:
        return _ratio(self.correct, self.scored)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def silent_error_rate(self) -> float | None:
        return _ratio(self.silent, self.scored)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def precision(self) -> float | None:
        return _ratio(self.true_positive, self.pred_non_null)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def recall(self) -> float | None:
        return _ratio(self.true_positive, self.gold_non_null)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def flagged_share(self) -> float | None:
        """Share of scored fields a reviewer is asked to look at (wrong or right)."""
        return _ratio(self.flagged_wrong + self.flagged_correct, self.scored)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def f1(self) -> float | None:
        precision, recall = self.precision, self.recall
        if precision is None or recall is None or precision + recall == 0:
            return None
        return 2 * precision * recall / (precision + recall)

    def add(self, outcome: FieldOutcome) -> None:
        self.scored += 1
        if outcome.correct:
            self.correct += 1
            self.flagged_correct += outcome.flagged
        elif outcome.flagged:
            self.flagged_wrong += 1
        else:
            self.silent += 1
        self.gold_non_null += outcome.gold is not None
        self.pred_non_null += outcome.pred is not None
        self.true_positive += outcome.correct and outcome.gold is not None and outcome.pred is not None


class Detection(BaseModel):
    gold_tables: int = 0
    pred_tables: int = 0
    matched: int = 0
    template_correct: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def recall(self) -> float | None:
        return _ratio(self.matched, self.gold_tables)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def precision(self) -> float | None:
        return _ratio(self.matched, self.pred_tables)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def template_accuracy(self) -> float | None:
        return _ratio(self.template_correct, self.matched)


class GroupScore(BaseModel):
    """Detection and field counts of one group: a document, a template, or a field."""

    name: str
    detection: Detection = Field(default_factory=Detection)
    fields: Tally = Field(default_factory=Tally)


class TextScore(BaseModel):
    """Similarity of one text field over the matched tables where gold or pred has the text."""

    field: str
    compared: int = 0
    at_threshold: int = 0
    similarity_sum: float = 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def mean_similarity(self) -> float | None:
        return self.similarity_sum / self.compared if self.compared else None


class AlignmentSummary(BaseModel):
    gold_indicators: int = 0
    pred_indicators: int = 0
    aligned: int = 0
    gold_categories: int = 0
    pred_categories: int = 0
    matched_categories: int = 0


class TableRef(BaseModel):
    doc: str
    start_line: int
    end_line: int
    template: str
    title: str | None = None


OutcomeKind = Literal["compared", "missing-item", "extra-item", "missing-table"]


class FieldError(BaseModel):
    """One wrong field, with where a reviewer finds it."""

    doc: str
    template: str
    table_line: int
    path: str
    pred_path: str | None
    field: str
    gold: Any = None
    pred: Any = None
    flagged: bool
    line: int
    kind: OutcomeKind
    badness: float


class NoisePoint(BaseModel):
    rate: float
    accuracy: float | None
    silent_error_rate: float | None
    f1: float | None
    detection_recall: float | None
    detection_precision: float | None
    scored: int
    damages: dict[str, int] = Field(default_factory=dict)


class NoiseCurve(BaseModel):
    seed: int
    backend: str
    docs: list[str]
    points: list[NoisePoint] = Field(default_factory=list)


class LeaveOneOut(BaseModel):
    """The same documents, each extracted with the vocabulary it did not teach (``extract.holdout``)."""

    prior: str
    hidden_variants: dict[str, list[str]]
    detection: Detection
    fields: Tally
    by_template: list[GroupScore]
    by_doc: list[GroupScore]
    errors: list[FieldError]


class Settings(BaseModel):
    table_min_iou: float = TABLE_MIN_IOU
    align_min_similarity: float = ALIGN_MIN_SIMILARITY
    text_match_threshold: float = TEXT_MATCH_THRESHOLD
    number_tolerance: float = NUMBER_TOLERANCE


class EvalReport(BaseModel):
    """Everything ``jixiao eval`` reports; the terminal, JSON and HTML views all read this."""

    normalisation: str = NORMALISATION
    settings: Settings = Field(default_factory=Settings)
    detection: Detection
    fields: Tally
    texts: list[TextScore]
    alignment: AlignmentSummary
    by_field: list[GroupScore]
    by_template: list[GroupScore]
    by_doc: list[GroupScore]
    errors: list[FieldError]
    errors_total: int
    missing_tables: list[TableRef]
    extra_tables: list[TableRef]
    extractor_errors: list[ErrorEntry] = Field(default_factory=list)
    ignored_pred_docs: list[str] = Field(default_factory=list)
    uncertain_skipped: int = 0
    unreadable_flag_paths: int = 0
    noise: NoiseCurve | None = None
    leave_one_out: LeaveOneOut | None = None


# --------------------------------------------------------------------------------------
# matching


def _span_iou(first: TableContent, second: TableContent) -> float:
    a_start, a_end = first.source.start_line, max(first.source.start_line, first.source.end_line)
    b_start, b_end = second.source.start_line, max(second.source.start_line, second.source.end_line)
    overlap = min(a_end, b_end) - max(a_start, b_start) + 1
    if overlap <= 0:
        return 0.0
    union = (a_end - a_start + 1) + (b_end - b_start + 1) - overlap
    return overlap / union


def match_tables(
    gold: Sequence[TableContent], pred: Sequence[TableContent], min_iou: float = TABLE_MIN_IOU
) -> list[tuple[int, int]]:
    """One-to-one (gold index, pred index) pairs of the same document, best line overlap first."""
    candidates: list[tuple[float, int, int]] = []
    for gold_index, gold_record in enumerate(gold):
        for pred_index, pred_record in enumerate(pred):
            if gold_record.source.doc != pred_record.source.doc:
                continue
            iou = _span_iou(gold_record, pred_record)
            if iou >= min_iou:
                candidates.append((-iou, gold_index, pred_index))
    pairs: list[tuple[int, int]] = []
    used_gold: set[int] = set()
    used_pred: set[int] = set()
    for _, gold_index, pred_index in sorted(candidates):
        if gold_index in used_gold or pred_index in used_pred:
            continue
        used_gold.add(gold_index)
        used_pred.add(pred_index)
        pairs.append((gold_index, pred_index))
    return sorted(pairs)


def align_names(
    gold_names: Sequence[str | None], pred_names: Sequence[str | None], min_similarity: float = ALIGN_MIN_SIMILARITY
) -> list[tuple[int, int]]:
    """Order-preserving alignment of two name lists maximising the summed name similarity.

    A weighted longest common subsequence (Needleman-Wunsch with zero gap cost): a pair may
    align only when its similarity reaches ``min_similarity``, so a dropped, inserted or
    renamed row leaves the rest of the table aligned.
    """
    if not gold_names or not pred_names:
        return []
    gold_text = [normalise_text(name) if name else "" for name in gold_names]
    pred_text = [normalise_text(name) if name else "" for name in pred_names]
    similarity = [
        [fuzz.ratio(name, other) / 100.0 if name and other else 0.0 for other in pred_text] for name in gold_text
    ]
    rows, cols = len(gold_text), len(pred_text)
    best = [[0.0] * (cols + 1) for _ in range(rows + 1)]
    for i in range(rows - 1, -1, -1):
        for j in range(cols - 1, -1, -1):
            options = [best[i + 1][j], best[i][j + 1]]
            if similarity[i][j] >= min_similarity:
                options.append(best[i + 1][j + 1] + similarity[i][j])
            best[i][j] = max(options)
    pairs: list[tuple[int, int]] = []
    i = j = 0
    while i < rows and j < cols:
        pair_value = similarity[i][j]
        if pair_value >= min_similarity and math.isclose(best[i][j], best[i + 1][j + 1] + pair_value):
            pairs.append((i, j))
            i += 1
            j += 1
        elif math.isclose(best[i][j], best[i + 1][j]):
            i += 1
        else:
            j += 1
    return pairs


def match_categories(gold: Sequence[CategoryScore], pred: Sequence[CategoryScore]) -> list[tuple[int, int]]:
    """Pair category scores by their normalised level1, each pred entry used once, in order."""
    pairs: list[tuple[int, int]] = []
    used: set[int] = set()
    for gold_index, gold_entry in enumerate(gold):
        key = normalise_text(gold_entry.level1)
        for pred_index, pred_entry in enumerate(pred):
            if pred_index not in used and normalise_text(pred_entry.level1) == key:
                pairs.append((gold_index, pred_index))
                used.add(pred_index)
                break
    return pairs


# --------------------------------------------------------------------------------------
# scoring


@dataclass
class FieldOutcome:
    """The verdict on one scored field (internal; the report keeps counts and the worst errors)."""

    doc: str
    template: str
    table_line: int
    path: str
    pred_path: str | None
    key: str
    gold: Any
    pred: Any
    correct: bool
    flagged: bool
    line: int
    kind: OutcomeKind
    similarity: float | None = None


Steps = tuple[str | int, ...]


def _steps(path: str) -> Steps:
    return tuple(parse_path(path))


def _covered(steps: Steps, cover: set[Steps]) -> bool:
    return any(steps[:length] in cover for length in range(1, len(steps) + 1))


class _TableScorer:
    """Scores one gold table against its matched prediction (or against nothing)."""

    def __init__(self, gold: GoldRecord, pred: Record | None) -> None:
        self.gold = gold
        self.pred = pred
        self.gold_dump = gold.model_dump(mode="json")
        self.pred_dump = pred.model_dump(mode="json") if pred is not None else {}
        self.uncertain = {_steps(path) for path in gold.uncertain}
        self.uncertain_skipped = 0
        self.unreadable_flag_paths = 0
        self.outcomes: list[FieldOutcome] = []
        self.indicator_pairs = align_names(
            [item.name for item in gold.indicators], [item.name for item in pred.indicators] if pred else []
        )
        self.category_pairs = match_categories(gold.category_scores, pred.category_scores if pred else [])
        self.gold_cover, self.pred_cover = self._flag_cover()

    def _flag_cover(self) -> tuple[set[Steps], set[Steps]]:
        """Flag paths in gold space (translated through the alignments) and as the pred wrote them."""
        gold_cover: set[Steps] = set()
        pred_cover: set[Steps] = set()
        if self.pred is None:
            return gold_cover, pred_cover
        to_gold = {
            "indicators": {pred_index: gold_index for gold_index, pred_index in self.indicator_pairs},
            "category_scores": {pred_index: gold_index for gold_index, pred_index in self.category_pairs},
        }
        for flag in self.pred.flags:
            for path in flag.fields:
                try:
                    steps = _steps(path)
                except PathError:
                    self.unreadable_flag_paths += 1
                    continue
                pred_cover.add(steps)
                if len(steps) >= 2 and steps[0] in to_gold and isinstance(steps[1], int):
                    gold_index = to_gold[str(steps[0])].get(steps[1])
                    if gold_index is not None:
                        gold_cover.add((steps[0], gold_index, *steps[2:]))
                else:
                    gold_cover.add(steps)
        return gold_cover, pred_cover

    def _line(self, pred_path: str | None) -> int:
        if self.pred is None:
            return self.gold.source.start_line
        if pred_path is not None and pred_path in self.pred.evidence:
            return self.pred.evidence[pred_path].line
        return self.pred.source.start_line

    def _add(
        self,
        path: str,
        pred_path: str | None,
        key: str,
        gold_value: Any,
        pred_value: Any,
        kind: OutcomeKind,
    ) -> None:
        steps = _steps(path)
        if kind != "extra-item" and _covered(steps, self.uncertain):
            self.uncertain_skipped += 1
            return
        similarity: float | None = None
        if kind == "compared":
            if is_text_field(key):
                similarity = text_similarity(gold_value, pred_value)
                correct = similarity >= TEXT_MATCH_THRESHOLD
            else:
                correct = values_equal(gold_value, pred_value)
        else:
            correct = False
        if kind == "missing-table":
            flagged = False
        elif kind == "extra-item":
            flagged = _covered(_steps(str(pred_path)), self.pred_cover)
        else:
            flagged = _covered(steps, self.gold_cover)
        self.outcomes.append(
            FieldOutcome(
                doc=self.gold.source.doc,
                template=self.gold.template,
                table_line=self.gold.source.start_line,
                path=path,
                pred_path=pred_path,
                key=key,
                gold=gold_value,
                pred=pred_value,
                correct=correct,
                flagged=flagged,
                line=self._line(pred_path),
                kind=kind,
                similarity=similarity,
            )
        )

    def run(self) -> list[FieldOutcome]:
        matched_kind: OutcomeKind = "compared" if self.pred is not None else "missing-table"
        for path in SCALAR_FIELDS:
            pred_value = read_dotted(self.pred_dump, path) if self.pred is not None else None
            self._add(path, path if self.pred is not None else None, path, read_dotted(self.gold_dump, path), pred_value, matched_kind)
        self._score_items("indicators", INDICATOR_FIELDS, self.indicator_pairs)
        self._score_items("category_scores", CATEGORY_FIELDS, self.category_pairs)
        return self.outcomes

    def _score_items(self, name: str, keys: tuple[str, ...], pairs: list[tuple[int, int]]) -> None:
        gold_items: list[dict[str, Any]] = self.gold_dump[name]
        pred_items: list[dict[str, Any]] = self.pred_dump.get(name, [])
        partner = dict(pairs)
        for gold_index, gold_item in enumerate(gold_items):
            pred_index = partner.get(gold_index)
            for key in keys:
                path = format_path([name, gold_index, key])
                field = f"{name}[].{key}"
                if pred_index is None:
                    kind: OutcomeKind = "missing-table" if self.pred is None else "missing-item"
                    self._add(path, None, field, gold_item[key], None, kind)
                else:
                    pred_path = format_path([name, pred_index, key])
                    self._add(path, pred_path, field, gold_item[key], pred_items[pred_index][key], "compared")
        aligned_pred = set(partner.values())
        for pred_index, pred_item in enumerate(pred_items):
            if pred_index in aligned_pred:
                continue
            for key in keys:
                if pred_item[key] is None:
                    continue
                pred_path = format_path([name, pred_index, key])
                self._add(pred_path, pred_path, f"{name}[].{key}", None, pred_item[key], "extra-item")


def _table_ref(record: TableContent) -> TableRef:
    return TableRef(
        doc=record.source.doc,
        start_line=record.source.start_line,
        end_line=record.source.end_line,
        template=record.template,
        title=record.title,
    )


def _listed_errors(wrong: Sequence[FieldOutcome]) -> list[FieldError]:
    """Wrong fields as the report lists them: a missing or extra item is one entry, named by its name.

    Nine "indicators[4].… missing" rows say less than one "indicators[4] (missing-item): 培训成本".
    """
    listed: list[FieldError] = []
    items: dict[tuple[str, int, OutcomeKind, str], list[FieldOutcome]] = {}
    for outcome in wrong:
        if outcome.kind == "compared":
            listed.append(
                FieldError(
                    doc=outcome.doc,
                    template=outcome.template,
                    table_line=outcome.table_line,
                    path=outcome.path,
                    pred_path=outcome.pred_path,
                    field=outcome.key,
                    gold=outcome.gold,
                    pred=outcome.pred,
                    flagged=outcome.flagged,
                    line=outcome.line,
                    kind=outcome.kind,
                    badness=round(_badness(outcome.gold, outcome.pred), 4),
                )
            )
        else:
            item_path = outcome.path[: outcome.path.index("]") + 1]
            items.setdefault((outcome.doc, outcome.table_line, outcome.kind, item_path), []).append(outcome)
    for (doc, table_line, kind, item_path), fields in items.items():
        first = fields[0]
        by_key = {field.key.rsplit(".", 1)[1]: field for field in fields}
        label = by_key.get("name") or by_key.get("level1")
        listed.append(
            FieldError(
                doc=doc,
                template=first.template,
                table_line=table_line,
                path=item_path,
                pred_path=item_path if kind == "extra-item" else None,
                field=first.key.rsplit(".", 1)[0],
                gold=label.gold if label is not None else None,
                pred=label.pred if label is not None else None,
                flagged=all(field.flagged for field in fields),
                line=first.line,
                kind=kind,
                badness=1.0,
            )
        )
    return listed


def _group(groups: dict[str, GroupScore], name: str) -> GroupScore:
    if name not in groups:
        groups[name] = GroupScore(name=name)
    return groups[name]


def score(
    gold: Sequence[GoldRecord],
    pred: Sequence[Record],
    *,
    extractor_errors: Sequence[ErrorEntry] = (),
    top_errors: int = DEFAULT_TOP_ERRORS,
    table_min_iou: float = TABLE_MIN_IOU,
) -> EvalReport:
    """Score predicted records against gold records; see the module docstring for every rule."""
    gold_docs = {record.source.doc for record in gold}
    kept_pred = [record for record in pred if record.source.doc in gold_docs]
    ignored_docs = sorted({record.source.doc for record in pred} - gold_docs)
    pairs = match_tables(gold, kept_pred, table_min_iou)
    partner = dict(pairs)
    matched_pred = set(partner.values())

    detection = Detection(gold_tables=len(gold), pred_tables=len(kept_pred), matched=len(pairs))
    by_doc: dict[str, GroupScore] = {}
    by_template: dict[str, GroupScore] = {}
    by_field: dict[str, GroupScore] = {}
    for record in gold:
        _group(by_doc, record.source.doc).detection.gold_tables += 1
        _group(by_template, record.template).detection.gold_tables += 1
    for predicted in kept_pred:
        _group(by_doc, predicted.source.doc).detection.pred_tables += 1
        _group(by_template, predicted.template).detection.pred_tables += 1

    alignment = AlignmentSummary()
    texts: dict[str, TextScore] = {}
    outcomes: list[FieldOutcome] = []
    uncertain_skipped = unreadable = 0
    for gold_index, gold_record in enumerate(gold):
        pred_record = kept_pred[partner[gold_index]] if gold_index in partner else None
        if pred_record is not None:
            template_right = values_equal(gold_record.template, pred_record.template)
            for groups, name in ((by_doc, gold_record.source.doc), (by_template, gold_record.template)):
                groups[name].detection.matched += 1
                groups[name].detection.template_correct += template_right
            detection.template_correct += template_right
        table = _TableScorer(gold_record, pred_record)
        table_outcomes = table.run()
        outcomes.extend(table_outcomes)
        uncertain_skipped += table.uncertain_skipped
        unreadable += table.unreadable_flag_paths
        if pred_record is not None:
            alignment.gold_indicators += len(gold_record.indicators)
            alignment.pred_indicators += len(pred_record.indicators)
            alignment.aligned += len(table.indicator_pairs)
            alignment.gold_categories += len(gold_record.category_scores)
            alignment.pred_categories += len(pred_record.category_scores)
            alignment.matched_categories += len(table.category_pairs)
            for outcome in table_outcomes:
                if outcome.similarity is not None and (outcome.gold is not None or outcome.pred is not None):
                    text = texts.setdefault(outcome.key, TextScore(field=outcome.key))
                    text.compared += 1
                    text.similarity_sum += outcome.similarity
                    text.at_threshold += outcome.correct

    totals = Tally()
    for outcome in outcomes:
        totals.add(outcome)
        _group(by_doc, outcome.doc).fields.add(outcome)
        _group(by_template, outcome.template).fields.add(outcome)
        _group(by_field, outcome.key).fields.add(outcome)

    wrong = [outcome for outcome in outcomes if not outcome.correct and outcome.kind != "missing-table"]
    ranked = sorted(_listed_errors(wrong), key=lambda e: (e.flagged, -e.badness, e.doc, e.line, e.path))
    field_order = {key: index for index, key in enumerate(SCALAR_FIELDS)}
    return EvalReport(
        detection=detection,
        fields=totals,
        texts=sorted(texts.values(), key=lambda t: t.field),
        alignment=alignment,
        by_field=sorted(by_field.values(), key=lambda g: (field_order.get(g.name, len(field_order)), g.name)),
        by_template=sorted(by_template.values(), key=lambda g: g.name),
        by_doc=sorted(by_doc.values(), key=lambda g: g.name),
        errors=ranked[: max(top_errors, 0)],
        errors_total=len(wrong),
        missing_tables=[_table_ref(record) for index, record in enumerate(gold) if index not in partner],
        extra_tables=[_table_ref(record) for index, record in enumerate(kept_pred) if index not in matched_pred],
        extractor_errors=list(extractor_errors),
        ignored_pred_docs=ignored_docs,
        uncertain_skipped=uncertain_skipped,
        unreadable_flag_paths=unreadable,
    )
