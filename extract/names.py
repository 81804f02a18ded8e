"""Stage: match a record's units and departments against the names the document states in full.

A disclosure names its own unit in its header (``部门名称：阳泉市民政局``), its
department in the tables (``主管部门 064-阳泉市民政局``) and its sub-units in
the text; the OCR then cuts or garbles the same names inside a table
("民政局", "阳泉市财政预算评审中心(阳) 作中心、阳泉市数字则"). The record
format wants the full name, so a damaged name is replaced by the known full
name when the match is strong, with the original kept in the evidence; a weak
match, an unknown name and a code that differs from the known one are flags.

Known names come from the document's own lines (``harvest_known_names``) and
from a user-supplied list (``load_known_names``: one name a line, or CSV
``name,code``). Names are compared in ``extract.match.normalise`` form (NFKC, no
spaces or punctuation), so "…合作中心,阳泉市…" and "…合作中心、阳泉市…" are one name.

How strong a match is: names share their place prefix (阳泉市…), which would
make any two of them look alike, so the place is split off and the rest (the
body) is compared: the score is the share of the printed body's characters that
the known body explains in order (longest common subsequence / printed length).
A truncated name ("民政局") scores 1.0 against "阳泉市民政局"; a garbled one keeps
most of its characters in order. A name with an alias in parentheses
("…评审中心(…合作中心、…管理中心)") is also compared without it, symmetrically, so a
garbled short form ("阳泉市财政预算设平审中心") still finds it. A match is strong when it scores ≥ STRONG,
starts like the known name and clearly beats the runner-up.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rapidfuzz.distance import LCSseq

from extract.match import normalise
from extract.repair import is_watermark, strip_watermark_fragments
from schemas.record import Evidence, Flag, Record

STRONG = 0.8
"""A match scoring at least this (and beating the runner-up by MARGIN) replaces the printed name."""
WEAK = 0.6
"""Between WEAK and STRONG the printed name is kept and flagged with the candidate."""
MARGIN = 0.15

NAME_FIELDS: tuple[tuple[str, str], ...] = (("department", "department_code"),
                                             ("implementing_unit", "implementing_unit_code"))
RULE_WEAK = "name-weak-match"
RULE_UNKNOWN = "name-unknown"
RULE_CODE = "name-code-mismatch"

_SUFFIX = r"(?:局|中心|院|站|馆|所|厅|委员会|办公室|总会|协会|队|处)(?![校长士内外])"
_PAREN = r"(?:[(（][^()（）]{2,80}[)）])?"
_PLACE = re.compile(r"^([\u4e00-\u9fff]{2,3}?(?:省|市|县|区|旗))")
_ORG = re.compile(rf"^[\u4e00-\u9fff]{{2,3}}?(?:省|市|县|区|旗)[\u4e00-\u9fff、]{{0,40}}?{_SUFFIX}{_PAREN}$")
_CODE_PREFIX = re.compile(r"^\s*(\d{2,12})\s*[-－—–]\s*")
_NAME_LABELS = ("单位名称", "部门名称", "主管部门及代码", "主管部门", "实施单位", "预算单位", "资金使用单位",
                "地方主管部门", "工作单位", "单位(盖章)", "单位（盖章）", "单位")
_LABEL_KEYS = tuple(sorted({normalise(label) for label in _NAME_LABELS}, key=len, reverse=True))
_LABEL_HINTS = frozenset(label[:2] for label in _LABEL_KEYS) | frozenset(label[-2:] for label in _LABEL_KEYS)
_VALUE_END = re.compile(r"\s{2,}|\d{4}\s*年|金额单位|单位[:：]")
_SPACES = re.compile(r"\s+")
_PARENTHETICAL = re.compile(r"[(（][^()（）]*[)）]$")


class KnownNamesError(ValueError):
    """A known-names file that cannot be read; the message is one line for the user."""


@dataclass
class KnownName:
    """A full name (as printed, spaces removed), its code if one was printed with it, and where."""

    name: str
    code: str | None = None
    lines: list[int] = field(default_factory=list)
    count: int = 0
    stated: bool = False
    """Given by a label (部门名称, 主管部门…) or by the user, not only found in running text."""
    spellings: dict[str, int] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return normalise(self.name)


@dataclass
class KnownNames:
    """The names a document (or a user list) states in full, by comparable key."""

    by_key: dict[str, KnownName] = field(default_factory=dict)

    def add(self, name: str, *, code: str | None = None, line: int | None = None, stated: bool = False) -> None:
        printed = _SPACES.sub("", name).strip("：:，,。;； ")
        key = normalise(printed)
        if len(key) < 3:
            return
        known = self.by_key.setdefault(key, KnownName(printed))
        known.count += 1
        known.stated = known.stated or stated
        known.spellings[printed] = known.spellings.get(printed, 0) + 1
        known.name = max(known.spellings, key=lambda spelling: (known.spellings[spelling], -len(spelling)))
        if code and not known.code:
            known.code = code
        if line is not None and line not in known.lines:
            known.lines.append(line)

    def merged(self, other: KnownNames) -> KnownNames:
        combined = KnownNames()
        for source in (self, other):
            for known in source:
                for spelling, count in known.spellings.items():
                    for _ in range(count):
                        combined.add(spelling, code=known.code, stated=known.stated)
                lines = combined.by_key[known.key].lines
                lines.extend(number for number in known.lines if number not in lines)
        return combined

    def names(self) -> list[str]:
        return [known.name for known in self]

    def __iter__(self) -> Iterator[KnownName]:
        return iter(self.by_key.values())

    def __len__(self) -> int:
        return len(self.by_key)


# ---------------------------------------------------------------------------------------------- harvest


def _split_code(text: str) -> tuple[str | None, str]:
    found = _CODE_PREFIX.match(text)
    if found:
        return found.group(1), text[found.end():]
    return None, text


_SUFFIX_CHARS = frozenset("局心院站馆所厅会室队处")


def _as_org(text: str) -> tuple[str | None, str] | None:
    """(code, name) when the text, spaces removed, is one organisation's full name."""
    if not _SUFFIX_CHARS.intersection(text):
        return None
    code, rest = _split_code(text.strip().lstrip("#").strip())
    squeezed = _SPACES.sub("", unicodedata.normalize("NFC", rest)).strip("：:，,。;；")
    if _ORG.match(squeezed):
        return code, squeezed
    return None


def _label_values(line: str) -> Iterator[str]:
    """Values that follow a name label in the same cell or in the next non-empty cell."""
    if not any(hint in line for hint in _LABEL_HINTS):
        return
    cells = line.split("\t")
    for index, cell in enumerate(cells):
        key = normalise(cell)
        label = next((label for label in _LABEL_KEYS if key.startswith(label)), None)
        if label is None:
            continue
        remainder = re.split(r"[:：]", cell, maxsplit=1)
        inline = remainder[1] if len(remainder) == 2 else ""
        if inline.strip():
            yield _VALUE_END.split(inline.strip(), maxsplit=1)[0]
        elif key == label:
            following = next((c for c in cells[index + 1:] if c.strip()), None)
            if following:
                yield following


def harvest_known_names(lines: list[str]) -> KnownNames:
    """The unit and department names a document states in full (1-based line numbers kept).

    Three sources, strongest first: values of name labels (部门名称：…, 主管部门 064-…,
    实施单位, 预算单位, 工作单位), whole cells or lines that are one organisation's name
    (a header "# 阳泉市城乡居民最低生活保障管理中心"), and names inside running text
    that start with a place the first two sources established ("本部门由阳泉市社会福利院、…").
    A spelling seen once that is a near copy of a more frequent name is an OCR variant and dropped.
    """
    known = KnownNames()
    cleaned = [_clean_line(line) for line in lines]
    for number, line in enumerate(cleaned, start=1):
        for value in _label_values(line):
            found = _as_org(value)
            if found:
                known.add(found[1], code=found[0], line=number, stated=True)
        if _SUFFIX_CHARS.isdisjoint(line):
            continue
        for cell in line.split("\t"):
            found = _as_org(cell)
            if found:
                known.add(found[1], code=found[0], line=number)
    places = {match.group(1) for known_name in known if (match := _PLACE.match(known_name.key))}
    if places:
        in_text = re.compile(rf"(?:{'|'.join(map(re.escape, sorted(places)))})"
                             rf"[\u4e00-\u9fff]{{1,30}}?{_SUFFIX}{_PAREN}")
        for number, line in enumerate(cleaned, start=1):
            if not any(place[:2] in line for place in places):
                continue
            for cell in line.split("\t"):
                for match in in_text.finditer(_SPACES.sub("", cell)):
                    if normalise(match.group(0)) not in known.by_key:
                        known.add(match.group(0), line=number)
    return _drop_variants(known)


_WATERMARK_HINTS = frozenset("供烘拱内部为伪")


def _clean_line(line: str) -> str:
    """The line without watermark cells and fragments (仅供内部审核 and its garbled forms)."""
    if _WATERMARK_HINTS.isdisjoint(line):
        return line
    return "\t".join("" if is_watermark(cell) else strip_watermark_fragments(cell) for cell in line.split("\t"))


def _drop_variants(known: KnownNames) -> KnownNames:
    """Remove OCR variants: a spelling seen once that is a near copy of a name seen three times or more."""
    kept = KnownNames()
    ranked = sorted(known, key=lambda k: (k.count, k.stated), reverse=True)
    for candidate in ranked:
        if candidate.count == 1 and any(other.count >= 3 and _similarity(candidate.key, other.key) >= STRONG
                                        for other in kept):
            continue
        kept.by_key[candidate.key] = candidate
    return kept


def load_known_names(path: str | Path) -> KnownNames:
    """A user list: one name a line, or CSV ``name,code`` (a header row ``name,code`` is skipped)."""
    file_path = Path(path)
    try:
        text = file_path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise KnownNamesError(f"{file_path}: no such file") from None
    except UnicodeDecodeError:
        raise KnownNamesError(f"{file_path}: not UTF-8 text") from None
    except OSError as error:
        raise KnownNamesError(f"{file_path}: cannot be read ({error.strerror or error})") from None
    known = KnownNames()
    for row in csv.reader(text.splitlines()):
        cells = [cell.strip() for cell in row]
        if not cells or not cells[0] or cells[0].startswith("#") or cells[0].lower() == "name":
            continue
        code = cells[1] if len(cells) > 1 and cells[1] else None
        if code is not None and not re.fullmatch(r"[0-9A-Za-z\-]{1,20}", code):
            raise KnownNamesError(f"{file_path}: code {code!r} for {cells[0]!r} is not a code")
        known.add(cells[0], code=code, stated=True)
    return known


# ---------------------------------------------------------------------------------------------- matching


def _body(key: str) -> tuple[str, str]:
    found = _PLACE.match(key)
    return (found.group(1), key[found.end():]) if found else ("", key)


def _similarity(printed_key: str, known_key: str) -> float:
    """Share of the printed body the known body explains in order (see the module docstring)."""
    printed_place, printed_body = _body(printed_key)
    known_place, known_body = _body(known_key)
    if not printed_place and printed_body[:1] and known_place.endswith(printed_body[0]) and printed_body[0] in "省市县区旗":
        printed_body = printed_body[1:]  # "市水务局": the place cut off, its level word (市) left
    if not printed_body:
        return 0.0
    score = LCSseq.similarity(printed_body, known_body) / len(printed_body)
    core = _PARENTHETICAL.sub("", known_body)
    if core and core != known_body:
        score = max(score, 2 * LCSseq.similarity(printed_body, core) / (len(printed_body) + len(core)))
    if printed_place and known_place and LCSseq.similarity(printed_place, known_place) < len(known_place) - 1:
        score *= 0.5
    if printed_body[0] != known_body[:1]:
        score *= 0.75
    return score


def _same_body(printed_key: str, known_key: str) -> bool:
    """The printed name is the known one with its place cut off ("市文化和旅游局", "文化和旅游局"),
    so it beats a longer known name that merely contains it (…旅游局内设办公室)."""
    known_place, known_body = _body(known_key)
    return printed_key in (known_body, known_place[-1:] + known_body, known_key)


@dataclass(frozen=True)
class NameMatch:
    known: KnownName
    score: float
    kind: Literal["exact", "strong", "weak"]
    runner_up: KnownName | None = None


def match_name(text: str, known: KnownNames) -> NameMatch | None:
    """The known name a printed name stands for, and how sure that is; None below WEAK."""
    _, rest = _split_code(text)
    key = normalise(rest)
    if not key or not len(known):
        return None
    if key in known.by_key:
        return NameMatch(known.by_key[key], 1.0, "exact")
    ranked = sorted(((_similarity(key, k.key), k) for k in known),
                    key=lambda pair: (pair[0], _same_body(key, pair[1].key), pair[1].stated, pair[1].count),
                    reverse=True)
    best_score, best = ranked[0]
    runner_up = ranked[1] if len(ranked) > 1 else None
    if best_score < WEAK:
        return None
    clear = runner_up is None or best_score - runner_up[0] >= MARGIN or (
        _same_body(key, best.key) and not _same_body(key, runner_up[1].key))
    kind: Literal["strong", "weak"] = "strong" if best_score >= STRONG and clear else "weak"
    return NameMatch(best, best_score, kind, runner_up[1] if runner_up else None)


def canonicalise_names(record: Record, known: KnownNames) -> Record:
    """A copy of the record with damaged unit/department names completed from the known names.

    Strong match: the full name replaces the printed one, and the evidence says what
    was printed. Weak match: the printed name stays, with a ``name-weak-match`` flag
    naming the candidate. No match: a ``name-unknown`` warning. A printed code that
    differs from the code the document gives the same name: ``name-code-mismatch``.
    Flags of these rules from an earlier run are replaced, so re-running is idempotent.
    """
    result = record.model_copy(update={
        "flags": [flag for flag in record.flags if flag.rule not in (RULE_WEAK, RULE_UNKNOWN, RULE_CODE)],
        "evidence": dict(record.evidence)})
    if not len(known):
        return result
    for path, code_path in NAME_FIELDS:
        printed = getattr(result, path)
        if not printed:
            continue
        found = match_name(printed, known)
        if found is None:
            result.flags.append(Flag(rule=RULE_UNKNOWN, severity="warning", fields=[path],
                                     message=f"{path} “{printed}” is none of the names the document states",
                                     values={path: printed, "expected": "one of " + "、".join(known.names()[:8])}))
            continue
        if found.kind == "weak":
            result.flags.append(Flag(
                rule=RULE_WEAK, severity="warning", fields=[path],
                message=f"{path} “{printed}” resembles “{found.known.name}” only weakly ({found.score:.2f})",
                values={path: printed, "candidate": found.known.name, "score": round(found.score, 2),
                        "expected": found.known.name}))
        elif found.kind == "strong" and found.known.name != printed:
            _replace(result, path, printed, found.known)
        code = getattr(result, code_path)
        if code and found.kind != "weak" and found.known.code and code != found.known.code:
            result.flags.append(Flag(
                rule=RULE_CODE, severity="warning", fields=[code_path, path],
                message=f"{code_path} {code} but the document gives {found.known.name} the code {found.known.code}",
                values={code_path: code, path: getattr(result, path), "expected": found.known.code}))
    return result


def _replace(record: Record, path: str, printed: str, known: KnownName) -> None:
    note = f"名称补全：{printed} → {known.name}"
    evidence = record.evidence.get(path)
    if evidence is not None:
        record.evidence[path] = Evidence(line=evidence.line, text=f"{evidence.text} ‖ {note}")
    elif known.lines:
        record.evidence[path] = Evidence(line=known.lines[0], text=f"{note}（全称见第{known.lines[0]}行）")
    setattr(record, path, known.name)
