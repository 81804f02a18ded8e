"""Seeded OCR damage for clean documents, keeping their gold records true.

The garbled seed (003) shows what a poor scan does to a table; the clean seeds do not, so
an extractor tuned on them could look better than it is. This module applies that damage
(seed-notes §2) at a chosen rate to a clean document and returns the damaged text together
with gold records that are still right for it, so that ``jixiao eval --noise`` can plot
accuracy and the silent error rate against the amount of noise.

Kinds of damage (each eligible site is damaged with probability ``rate``):

- ``watermark-line``: a (garbled) 仅供内部审核 line inserted between two lines, sometimes as a
  page-break pair; gold line numbers are remapped.
- ``watermark-in-text``: a garbled watermark, set off by spaces, inside a long text cell.
- ``watermark-in-cell``: a garbled watermark filling an empty cell between two cells
  (the cell keeps meaning "empty").
- ``glyph-variant``: 级→級, 满→満, ≤→≪, 每→毎, 已完成→己完成, 数→數, …
- ``split-number``: a space after a decimal point or comma ("30.01" → "30. 01").
- ``comma-decimal``: a decimal point read as a comma, only where the comma rule stays
  unambiguous (1–2 or ≥4 decimals: "30.01" → "30,01", never "8.450" → "8,450").
- ``merged-date``: the dash of a dotted date range lost ("2024.1.1—2024.12.31" →
  "2024.1.12024.12.31"; the second date's 4-digit year makes the split certain).
- ``shifted-cell``: a leading empty cell added to a table row.
- ``dropped-empty-cell``: an empty padding cell removed from a table row.
- ``truncated-name``: a department or unit cell cut to its name without the place prefix
  ("阳泉市民政局" → "民政局"), only while the full name is still printed elsewhere in the
  document, which is what lets the gold keep it in full.

Keeping the gold valid. No damage here destroys a value, so gold values never change and
no path has to become ``uncertain``; only ``source`` line numbers move. What makes that hold:
every damage keeps the order of the non-empty cells; cells are dropped only where their
position carries no meaning (trailing cells; leading cells of rows whose first cell is a
指标 label; interior padding after a label cell such as 主管部门, never in or between indicator
rows, where an empty cell is a null target or actual, and never after a number, so the
province funds row keeps its slots); the cell-structure damages (shift, drop) are not
applied to the goal-declaration form (``other``), whose two halves are told apart by
position. One reading then leans on the spec rather than on position: a 总分 row that
prints a single number prints the score.

Determinism: every decision is a hash of (seed, document, damage kind, site), so the same
seed gives the same text, and the sites damaged at a lower rate are a subset of those
damaged at a higher one (the curve measures more of the same noise, not different noise).
Rate 0 returns the text unchanged.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from pydantic import BaseModel, Field

from extract.evaluate import DEFAULT_TOP_ERRORS, EvalReport, NoiseCurve, NoisePoint, normalise_text, score
from schemas.record import ErrorEntry, GoldRecord, Record, Source

DAMAGE_KINDS: tuple[str, ...] = (
    "truncated-name",
    "glyph-variant",
    "merged-date",
    "comma-decimal",
    "split-number",
    "watermark-in-text",
    "dropped-empty-cell",
    "watermark-in-cell",
    "shifted-cell",
    "watermark-line",
)

WATERMARK_FORMS: tuple[str, ...] = (
    "仅供内部审核",
    "又供内部軍核",
    "及供内部軍權",
    "风烘内部铺林",
    "以供内部群林",
    "及供内部單模",
    "又供内部軍隊",
    "及供为部庫核",
    "以拱内部群林",
    "风供内部审核",
)
"""Forms seen in the garbled seed; each keeps 供内部/烘内部/拱内部/供为部, which is what the spec's
detection rule keys on, so a damaged value stays recoverable."""

GLYPH_VARIANTS: dict[str, str] = {
    "级": "級",
    "满": "満",
    "≤": "≪",
    "≥": "≫",
    "每": "毎",
    "门": "門",
    "贫": "貧",
    "丧": "喪",
    "数": "數",
    "财": "財",
    "预": "預",
    "评": "評",
    "资": "資",
    "额": "額",
    "收": "収",
}
"""Simplified → the variant OCR printed (seed-notes §2.2); only glyphs that are never right in
simplified text, so the repair is certain. 已→己 is applied only inside 已完成."""

_CELL_DAMAGE_TEMPLATES = frozenset({"city-project", "province-project", "transfer-payment"})
_DOTTED_RANGE = re.compile(r"(\d{4}\.\d{1,2}\.\d{1,2})\s*[—–\-－]\s*(\d{4}\.\d{1,2}\.\d{1,2})")
_DECIMAL = re.compile(r"(?<![\d.,])(\d+)\.(\d{1,2}|\d{4,})(?![\d.,])")
_DECIMAL_MARK = re.compile(r"(?<=\d)[.,](?=\d)")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_HAN_PAIR = re.compile(r"(?<=[\u4e00-\u9fff])(?=[\u4e00-\u9fff])")
_DIGIT = re.compile(r"\d")
_PLACE_PREFIX = re.compile(r"^(.{1,4}?[省市县区])(.{2,})$")
_CODE_PREFIX = re.compile(r"^\d+\s*-\s*")


class Damage(BaseModel):
    kind: str
    line: int
    detail: str


class NoisyDocument(BaseModel):
    """A damaged document and the gold records that are true for it."""

    doc: str
    rate: float
    seed: int
    text: str
    gold: list[GoldRecord]
    damages: list[Damage] = Field(default_factory=list)
    line_map: list[int] = Field(default_factory=list)
    """``line_map[n - 1]`` is the damaged text's line number of the input's line ``n``."""

    def counts(self) -> dict[str, int]:
        return dict(Counter(damage.kind for damage in self.damages))


class _Dice:
    """Deterministic per-site decisions: a hash, not a stream, so sites do not disturb each other."""

    def __init__(self, seed: int, doc: str) -> None:
        self._prefix = f"{seed}\x1f{doc}"

    def uniform(self, *key: object) -> float:
        material = "\x1f".join([self._prefix, *map(str, key)]).encode("utf-8")
        digest = hashlib.blake2b(material, digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def hit(self, rate: float, *key: object) -> bool:
        return rate > 0 and self.uniform(*key) < rate

    def pick(self, options: Sequence[str], *key: object) -> str:
        return options[int(self.uniform("pick", *key) * len(options))]


class _Damager:
    def __init__(self, lines: list[str], gold: Sequence[GoldRecord], rate: float, dice: _Dice, kinds: Iterable[str]):
        self.lines = lines
        self.gold = gold
        self.rate = rate
        self.dice = dice
        self.kinds = frozenset(kinds)
        self.damages: list[Damage] = []
        self.table_of_line: dict[int, GoldRecord] = {}
        self.indicator_band: set[int] = set()
        for record in gold:
            for number in range(record.source.start_line, record.source.end_line + 1):
                self.table_of_line.setdefault(number, record)
            self.indicator_band |= self._indicator_band(record)

    def _indicator_band(self, record: GoldRecord) -> set[int]:
        """The lines from the first to the last that names an indicator or a 指标 label.

        Inside this band an empty cell may be a null target or actual, so its column counts;
        the band also covers rows whose name the OCR garbled beyond recognition.
        """
        names = [normalise_text(item.name) for item in record.indicators if item.name]
        hits = [
            number
            for number in range(record.source.start_line, record.source.end_line + 1)
            if "指标" in (line := normalise_text(self.lines[number - 1])) or any(name in line for name in names)
        ]
        return set(range(min(hits), max(hits) + 1)) if hits else set()

    def _on(self, kind: str) -> bool:
        return kind in self.kinds and self.rate > 0

    def _note(self, kind: str, number: int, detail: str) -> None:
        self.damages.append(Damage(kind=kind, line=number, detail=detail))

    # -- whole-document damage -------------------------------------------------------

    def truncate_names(self) -> None:
        if not self._on("truncated-name"):
            return
        for record in self.gold:
            for field in ("department", "implementing_unit"):
                full = getattr(record, field)
                match = _PLACE_PREFIX.match(full or "")
                if not full or not match:
                    continue
                short = match.group(2)
                for number in range(record.source.start_line, record.source.end_line + 1):
                    cells = self.lines[number - 1].split("\t")
                    for index, cell in enumerate(cells):
                        stripped = cell.strip()
                        if stripped != full and _CODE_PREFIX.sub("", stripped) != full:
                            continue
                        if sum(line.count(full) for line in self.lines) < 2:
                            continue
                        if not self.dice.hit(self.rate, "truncated-name", number, index):
                            continue
                        cells[index] = cell.replace(full, short)
                        self.lines[number - 1] = "\t".join(cells)
                        self._note("truncated-name", number, f"{full} → {short}")

    # -- damage inside one line ------------------------------------------------------

    def damage_line(self, number: int) -> None:
        line = self.lines[number - 1]
        if self._on("glyph-variant"):
            line = self._glyphs(number, line)
        if self._on("merged-date"):
            line = self._sub("merged-date", number, line, _DOTTED_RANGE, lambda m: m.group(1) + m.group(2))
        if self._on("comma-decimal"):
            line = self._sub("comma-decimal", number, line, _DECIMAL, lambda m: f"{m.group(1)},{m.group(2)}")
        if self._on("split-number"):
            line = self._sub("split-number", number, line, _DECIMAL_MARK, lambda m: m.group(0) + " ")
        record = self.table_of_line.get(number)
        if record is not None and "\t" in line:
            line = self._cells(number, line, record)
        self.lines[number - 1] = line

    def _sub(self, kind: str, number: int, line: str, pattern: re.Pattern[str], replace: Callable[[re.Match[str]], str]) -> str:
        counter = iter(range(len(line) + 1))

        def maybe(match: re.Match[str]) -> str:
            site = next(counter)
            if not self.dice.hit(self.rate, kind, number, site):
                return match.group(0)
            replacement = replace(match)
            self._note(kind, number, f"{match.group(0)} → {replacement}")
            return replacement

        return pattern.sub(maybe, line)

    def _glyphs(self, number: int, line: str) -> str:
        out: list[str] = []
        for position, char in enumerate(line):
            variant = GLYPH_VARIANTS.get(char)
            if char == "已" and line.startswith("完成", position + 1):
                variant = "己"
            if variant and self.dice.hit(self.rate, "glyph-variant", number, position):
                out.append(variant)
                self._note("glyph-variant", number, f"{char} → {variant}")
            else:
                out.append(char)
        return "".join(out)

    def _cells(self, number: int, line: str, record: GoldRecord) -> str:
        cells = line.split("\t")
        if self._on("watermark-in-text"):
            for index, cell in enumerate(cells):
                if len(_HAN.findall(cell)) < 12 or not self.dice.hit(self.rate, "watermark-in-text", number, index):
                    continue
                gaps = [match.start() for match in _HAN_PAIR.finditer(cell)]
                if not gaps:
                    continue
                gap = gaps[int(self.dice.uniform("gap", number, index) * len(gaps))]
                form = self.dice.pick(WATERMARK_FORMS, "watermark-in-text", number, index)
                cells[index] = f"{cell[:gap]} {form} {cell[gap:]}"
                self._note("watermark-in-text", number, form)
        structural = record.template in _CELL_DAMAGE_TEMPLATES
        if structural and self._on("dropped-empty-cell"):
            cells = self._drop_empty(number, cells, record)
        if self._on("watermark-in-cell"):
            for index in range(1, len(cells) - 1):
                if cells[index] == "" and self.dice.hit(self.rate, "watermark-in-cell", number, index):
                    cells[index] = self.dice.pick(WATERMARK_FORMS, "watermark-in-cell", number, index)
                    self._note("watermark-in-cell", number, cells[index])
        if structural and self._on("shifted-cell") and self.dice.hit(self.rate, "shifted-cell", number):
            cells.insert(0, "")
            self._note("shifted-cell", number, "leading empty cell")
        return "\t".join(cells)

    def _drop_empty(self, number: int, cells: list[str], record: GoldRecord) -> list[str]:
        filled = [index for index, cell in enumerate(cells) if cell.strip()]
        if not filled:
            return cells
        first, last = filled[0], filled[-1]
        line = normalise_text("".join(cells))
        names = [normalise_text(item.name) for item in record.indicators if item.name]
        indicator_row = number in self.indicator_band or "指标" in line or any(name in line for name in names)
        droppable: list[int] = [index for index in range(last + 1, len(cells))]
        if "指标" in cells[first]:
            droppable.extend(range(first))
        if not indicator_row:
            left = cells[first].strip()
            for index in range(first + 1, last):
                if cells[index].strip():
                    left = cells[index].strip()
                elif _HAN.search(left) and not _DIGIT.search(left):
                    droppable.append(index)
        dropped = {index for index in droppable if self.dice.hit(self.rate, "dropped-empty-cell", number, index)}
        if not dropped:
            return cells
        self._note("dropped-empty-cell", number, f"{len(dropped)} empty cell(s)")
        return [cell for index, cell in enumerate(cells) if index not in dropped]

    # -- inserted lines --------------------------------------------------------------

    def insert_watermark_lines(self) -> dict[int, int]:
        """Insert watermark lines between lines; return old → new line numbers."""
        remap: dict[int, int] = {}
        out: list[str] = []
        inserted: list[tuple[int, str]] = []
        last_gap = len(self.lines) - 1 if self.lines and self.lines[-1] == "" else len(self.lines)
        for number, line in enumerate(self.lines, start=1):
            out.append(line)
            remap[number] = len(out)
            if number >= last_gap or not self._on("watermark-line"):
                continue
            if not self.dice.hit(self.rate, "watermark-line", number):
                continue
            form = self.dice.pick(WATERMARK_FORMS, "watermark-line", number)
            block = [form, "", self.dice.pick(WATERMARK_FORMS, "pair", number)] if self.dice.uniform("pair?", number) < 0.3 else [form]
            for text in block:
                out.append(text)
                if text:
                    inserted.append((len(out), text))
        self.lines[:] = out
        for damage in self.damages:
            damage.line = remap[damage.line]
        for new_number, text in inserted:
            self._note("watermark-line", new_number, text)
        return remap


def damage_document(
    text: str,
    gold: Sequence[GoldRecord],
    *,
    rate: float,
    seed: int = 0,
    doc: str | None = None,
    kinds: Iterable[str] = DAMAGE_KINDS,
) -> NoisyDocument:
    """Damage ``text`` at ``rate`` (0…1) and return it with its gold records adjusted.

    ``gold`` must be the records of this document (``source.doc`` = ``doc``); their line
    numbers refer to ``text`` split at "\\n", as the files' line numbers do.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"noise rate must be between 0 and 1, got {rate}")
    unknown = set(kinds) - set(DAMAGE_KINDS)
    if unknown:
        raise ValueError(f"unknown damage kind(s): {', '.join(sorted(unknown))}")
    name = doc if doc is not None else (gold[0].source.doc if gold else "")
    foreign = sorted({record.source.doc for record in gold} - {name})
    if foreign:
        raise ValueError(f"gold records of another document given for {name}: {', '.join(foreign)}")
    lines = text.split("\n")
    for record in gold:
        if record.source.end_line > len(lines):
            raise ValueError(f"{name}: gold table at line {record.source.start_line} ends after the last line")
    damager = _Damager(lines, gold, rate, _Dice(seed, name), kinds)
    damager.truncate_names()
    for number in range(1, len(lines) + 1):
        damager.damage_line(number)
    remap = damager.insert_watermark_lines()
    adjusted: list[GoldRecord] = []
    for record in gold:
        copy = record.model_copy(deep=True)
        copy.source = Source(
            doc=record.source.doc,
            start_line=remap[record.source.start_line],
            end_line=remap[record.source.end_line],
        )
        adjusted.append(copy)
    return NoisyDocument(
        doc=name,
        rate=rate,
        seed=seed,
        text="\n".join(damager.lines),
        gold=adjusted,
        damages=damager.damages,
        line_map=[remap[number] for number in range(1, len(remap) + 1)],
    )


Extractor = Callable[[str, str], Sequence[Record | ErrorEntry]]
"""``extract(text, doc)``: in-memory extraction, e.g. ``extract.pipeline.extract_text`` with a backend bound."""


def measure_noise_curve(
    documents: dict[str, str],
    gold: Sequence[GoldRecord],
    rates: Sequence[float],
    extract: Extractor,
    *,
    seed: int = 0,
    backend: str = "rules",
    top_errors: int = DEFAULT_TOP_ERRORS,
) -> tuple[NoiseCurve, dict[float, EvalReport]]:
    """Extract every document at every noise rate and score it against its adjusted gold.

    ``documents`` maps a document name (``source.doc``) to its clean text; only documents
    with gold records are used. Returns the curve and the full report per rate.
    """
    used = sorted(name for name in documents if any(record.source.doc == name for record in gold))
    curve = NoiseCurve(seed=seed, backend=backend, docs=used)
    reports: dict[float, EvalReport] = {}
    for rate in rates:
        all_gold: list[GoldRecord] = []
        all_pred: list[Record] = []
        all_errors: list[ErrorEntry] = []
        damages: Counter[str] = Counter()
        for name in used:
            noisy = damage_document(
                documents[name], [record for record in gold if record.source.doc == name], rate=rate, seed=seed, doc=name
            )
            damages.update(noisy.counts())
            all_gold.extend(noisy.gold)
            for item in extract(noisy.text, name):
                if isinstance(item, ErrorEntry):
                    all_errors.append(item)
                else:
                    all_pred.append(item)
        report = score(all_gold, all_pred, extractor_errors=all_errors, top_errors=top_errors)
        reports[rate] = report
        curve.points.append(
            NoisePoint(
                rate=rate,
                accuracy=report.fields.accuracy,
                silent_error_rate=report.fields.silent_error_rate,
                f1=report.fields.f1,
                detection_recall=report.detection.recall,
                detection_precision=report.detection.precision,
                scored=report.fields.scored,
                damages=dict(sorted(damages.items())),
            )
        )
    return curve, reports
