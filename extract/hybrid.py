"""Hybrid extraction: rules first, the LLM only where the checks say the rules failed, then field by field.

Routing (``needs_llm``): a table goes to the LLM when its checked rules record carries
an extractor doubt (an ``extract-*`` flag other than the purely informational ones in
``NOT_ROUTED``) or a numeric-rule flag of severity error. Warnings about the
document's own content (an indicator short of its target, no grade stated, a narrative
quoting another rate) do not: an LLM reading the same text cannot change them.
``--llm-all`` sends every table. The LLM's answer is re-asked only about the fields the
routing flags name (``doubted_fields``): elsewhere the rules' reading stands and the
reconciliation below checks the LLM's values, so re-asks there would spend calls twice.

Reconciling (``reconcile``) compares the two readings leaf by leaf, indicators paired
by name (order-preserving; rows whose values agree pair even when a name was misread)
and category scores by level1 (or by equal weight and score):

- the same value (numbers equal, texts equal after normalisation, long texts ≥ 90 %
  alike): confident; an extractor doubt about that field is resolved;
- the rules found nothing and the LLM's value is printed in the table: the LLM's value;
- the rules read a value and the LLM says there is none: the rules' value, flagged;
- two different values: the one that is printed in the table *and* breaks no numeric
  rule wins when the other does not; otherwise the rules' value is kept and an
  ``extract-disagreement`` flag carries both readings.

This module also runs the LLM backend's batch (``extract_with_llm``), so that the
pipeline has one entry point for both LLM backends.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from rapidfuzz import fuzz

from extract import __version__
from extract.clean import Grid, clean
from extract.draft import EXTRACTOR_RULE_PREFIX
from extract.llm.grounding import (
    TableIndex,
    ground_value,
    normalise,
    printed_level2,
    severity_of,
)
from extract.llm.prompting import Prompt, TableText, render_prompt, table_text
from extract.llm.records import fallback_flag, llm_record, with_flag
from extract.llm.response import AnswerCheck
from extract.llm.runner import LLMSession, TableReply, TableRequest
from extract.llm.settings import LLMSettings, SettingsError
from extract.load import Document
from extract.rules import extract_rules
from extract.segment import TableSpan
from schemas.paths import PathError, get_path, set_path
from schemas.record import (
    ErrorEntry,
    Evidence,
    ExtractorInfo,
    Flag,
    FundLine,
    Record,
    TableContent,
)

log = logging.getLogger(__name__)

LLM_BACKENDS = ("llm", "hybrid")
NOT_ROUTED = frozenset({f"{EXTRACTOR_RULE_PREFIX}extra-value"})
"""Extractor flags that do not send a table to the LLM: the values kept are the labelled ones,
the flag only records a surplus number the reviewer may want to see."""
DISAGREEMENT_RULE = f"{EXTRACTOR_RULE_PREFIX}disagreement"
ALIGN_MIN_SIMILARITY = 60.0
TEXT_SAME_RATIO = 90.0
LONG_TEXT = 20
CLOSE_TEXT_RATIO = 50.0
"""An unprinted LLM wording this close to the rules' printed one is flagged, not dropped silently:
it may be a repair of OCR damage (每大 → 每天) that the text cannot confirm."""

Result = Record | ErrorEntry


# ---------------------------------------------------------------------------------------------- routing


def routes(flag: Flag) -> bool:
    """Does this flag send its table to the LLM? Extractor doubts and numeric-rule errors do."""
    from extract.verify import RULES

    if flag.rule.startswith(EXTRACTOR_RULE_PREFIX):
        return flag.rule not in NOT_ROUTED
    return flag.rule in RULES and flag.severity == "error"


def needs_llm(record: Record) -> list[str]:
    """Why a checked rules record should be read again by the LLM ([] when the rules suffice)."""
    return sorted({flag.rule for flag in record.flags if routes(flag)})


def doubted_fields(record: Record) -> frozenset[str] | None:
    """The fields the routing flags name (the LLM's answer matters there); None: the whole table."""
    fields: set[str] = set()
    for flag in record.flags:
        if not routes(flag):
            continue
        if not flag.fields or any(path in ("source", "template") for path in flag.fields):
            return None
        fields.update(flag.fields)
    return frozenset(fields) or None


# ---------------------------------------------------------------------------------------------- batch


@dataclass
class _Plan:
    document: Document
    span: TableSpan
    grid: Grid | None = None
    table: TableText | None = None
    index: TableIndex | None = None
    rules: Record | None = None
    request: TableRequest | None = None
    reasons: list[str] = field(default_factory=list)
    known: Any = None
    reply: Any = None
    """The pending reply (an asyncio future) while the batch runs."""
    error: ErrorEntry | None = None


def _known_names(document: Document, memo: dict[int, Any]) -> Any:
    """The names the document states in full (``extract.names.KnownNames``), harvested once per document."""
    key = id(document)
    if key not in memo:
        from extract.names import harvest_known_names

        memo[key] = harvest_known_names(document.lines)
    return memo[key]


def _checked(record: Record, known: Any) -> Record:
    """Names completed from the document's own and the numeric rules run: what routing reads."""
    from extract.names import canonicalise_names
    from extract.verify import apply_verification

    return apply_verification(canonicalise_names(record, known))


def _name_lines(known: Any) -> dict[str, int | None]:
    return {name.name: (name.lines[0] if name.lines else None) for name in known}


def _error(plan: _Plan, stage: str, error: BaseException) -> ErrorEntry:
    text = str(error).strip().splitlines()
    message = f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
    return ErrorEntry(doc=plan.document.name, start_line=plan.span.start_line, end_line=plan.span.end_line,
                      stage=stage, message=message)


def prepare(document: Document, span: TableSpan, backend: str, session: LLMSession,
            memo: dict[int, Any]) -> _Plan:
    """Clean the table, run the rules where hybrid needs them, and build the LLM request if one is due."""
    plan = _Plan(document, span)
    try:
        plan.grid = clean(document, span)
        plan.table = table_text(plan.grid)
        plan.known = _known_names(document, memo)
        plan.index = TableIndex(plan.table, _name_lines(plan.known))
        focus: frozenset[str] | None = None
        if backend == "hybrid":
            plan.rules = _checked(extract_rules(plan.grid), plan.known)
            plan.reasons = ["--llm-all"] if session.llm_all else needs_llm(plan.rules)
            focus = None if session.llm_all else doubted_fields(plan.rules)
        if backend == "llm" or plan.reasons:
            plan.request = TableRequest(render_prompt(plan.table), AnswerCheck(plan.table, plan.index, focus=focus))
    except Exception as error:  # noqa: BLE001 - one broken table never stops the batch
        log.debug("table preparation failed", exc_info=True)
        plan.error = _error(plan, "extract", error)
    return plan


def extract_with_llm(items: Sequence[tuple[Document, TableSpan]], backend: str,
                     session: LLMSession | None) -> list[Result]:
    """Every table of ``items`` with the ``llm`` or ``hybrid`` backend, LLM calls made concurrently.

    Tables are prepared one after the other and each due request is submitted at once, so the
    first calls are in flight while later tables are still being read; replies are assembled as
    they arrive. Records come back in order, before the pipeline's final name matching and
    verification (which adds a user's list of known names); hybrid checks the rules' reading
    itself to route the table.
    """
    if backend not in LLM_BACKENDS:
        raise ValueError(f"backend {backend!r} is not an LLM backend")
    unavailable: str | None = None
    if session is None:
        try:
            session = LLMSession.from_environment()
        except SettingsError as error:
            # A stand-in that is never asked (the environment's settings are what is broken).
            session, unavailable = LLMSession(LLMSettings.model_construct(no_cache=True)), str(error)
    active = session
    return active.run(lambda: _extract_async(items, backend, active, unavailable))


async def _extract_async(items: Sequence[tuple[Document, TableSpan]], backend: str, session: LLMSession,
                         unavailable: str | None) -> list[Result]:
    memo: dict[int, Any] = {}
    if unavailable is None:
        try:
            async with session.batch() as batch:
                plans = []
                for document, span in items:
                    plan = prepare(document, span, backend, session, memo)
                    if plan.request is not None:
                        plan.reply = batch.submit(plan.request)
                    plans.append(plan)
                    await asyncio.sleep(0)
                # Each reply is assembled as soon as it arrives, while the others are still in flight.
                results: list[Result | None] = [None if plan.reply is not None else
                                                _result(plan, None, backend, session) for plan in plans]
                waiting = {plan.reply: position for position, plan in enumerate(plans) if plan.reply is not None}
                while waiting:
                    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                    for future in done:
                        position = waiting.pop(future)
                        results[position] = _result(plans[position], future.result(), backend, session)
                return [result for result in results if result is not None]
        except Exception as error:  # noqa: BLE001 - no endpoint, a broken client: every table falls back
            log.debug("LLM batch failed", exc_info=True)
            text = str(error).strip().splitlines()
            unavailable = text[0] if text else type(error).__name__
    plans = [prepare(document, span, backend, session, memo) for document, span in items]
    return [_result(plan, TableReply(plan.request, "failed", error=unavailable) if plan.request else None,
                    backend, session) for plan in plans]


def _result(plan: _Plan, reply: TableReply | None, backend: str, session: LLMSession) -> Result:
    if plan.error is not None:
        return plan.error
    assert plan.grid is not None and plan.index is not None
    try:
        if reply is None:
            assert plan.rules is not None
            return _stamped(plan.rules, "hybrid", None, None)
        if reply.answer is None:
            rules = plan.rules if plan.rules is not None else extract_rules(plan.grid)
            return with_flag(rules, fallback_flag(reply))
        model = session.settings.model_name
        llm = llm_record(reply, plan.index, model, backend)
        if backend == "llm":
            return llm
        assert plan.rules is not None
        from extract.names import canonicalise_names

        return reconcile(plan.rules, canonicalise_names(llm, plan.known), plan.index, reply.request.prompt, model)
    except Exception as error:  # noqa: BLE001
        log.debug("table assembly failed", exc_info=True)
        return _error(plan, "extract", error)


def _stamped(record: Record, backend: str, model: str | None, prompt_version: str | None) -> Record:
    stamped = record.model_copy(deep=True)
    stamped.extractor = ExtractorInfo(backend=backend, model=model, version=__version__,  # type: ignore[arg-type]
                                      prompt_version=prompt_version)
    return stamped


# ---------------------------------------------------------------------------------------------- alignment


VALUE_MATCH_SIMILARITY = 65.0
"""The similarity given to two rows whose names differ but whose values agree (a misread name)."""


def align(left: Sequence[dict[str, Any]], right: Sequence[dict[str, Any]],
          similarity: Callable[[dict[str, Any], dict[str, Any]], float],
          minimum: float = ALIGN_MIN_SIMILARITY) -> list[tuple[int, int]]:
    """Order-preserving pairs of rows maximising the summed similarity (each pair needs ``minimum``)."""
    n, m = len(left), len(right)
    scores = [[similarity(a, b) for b in right] for a in left]
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            paired = best[i + 1][j + 1] + scores[i][j] if scores[i][j] >= minimum else -1.0
            best[i][j] = max(paired, best[i + 1][j], best[i][j + 1])
    pairs = []
    i = j = 0
    while i < n and j < m:
        if scores[i][j] >= minimum and best[i][j] == best[i + 1][j + 1] + scores[i][j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            i += 1
        else:
            j += 1
    return pairs


def _agreeing(a: dict[str, Any], b: dict[str, Any], keys: Sequence[str]) -> int:
    return sum(1 for key in keys if a.get(key) is not None and same_value(a.get(key), b.get(key)))


def indicator_similarity(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Name similarity; rows whose names differ but whose values agree still pair (a misread name)."""
    first, second = normalise(a.get("name") or ""), normalise(b.get("name") or "")
    score = fuzz.ratio(first, second) if first and second else 0.0
    values = ("target", "adjusted_target", "actual", "weight", "score")
    if score < ALIGN_MIN_SIMILARITY and _agreeing(a, b, values) >= 2:
        return VALUE_MATCH_SIMILARITY
    return score


def category_similarity(a: dict[str, Any], b: dict[str, Any]) -> float:
    if a.get("level1") == b.get("level1"):
        return 100.0
    return VALUE_MATCH_SIMILARITY if _agreeing(a, b, ("weight", "score")) == 2 else 0.0


def merged_order(n: int, m: int, pairs: list[tuple[int, int]]) -> list[tuple[int | None, int | None]]:
    """Both sequences interleaved around their pairs: (rules index, llm index), either may be None."""
    order: list[tuple[int | None, int | None]] = []
    i = j = 0
    for left, right in [*pairs, (n, m)]:
        order.extend((index, None) for index in range(i, left))
        order.extend((None, index) for index in range(j, right))
        if left < n and right < m:
            order.append((left, right))
        i, j = left + 1, right + 1
    return order


_ITEM = re.compile(r"^(indicators|category_scores)\[(\d+)\]")
_LEVEL = re.compile(r"^indicators\[(\d+)\]\.(level1|level2)$")


def _levels_agree(data: dict[str, Any], index: int, key: str, value: Any) -> bool:
    """Does a level1 (level2) candidate fit the indicator's other level (数量指标 belongs to 产出指标)?"""
    from extract.match import level1_of

    other = data["indicators"][index].get("level2" if key == "level1" else "level1")
    if value is None or other is None:
        return True
    implied = level1_of(other) if key == "level1" else level1_of(value)
    given = value if key == "level1" else other
    return implied is None or implied == given


def remap_path(path: str, maps: dict[str, dict[int, int]]) -> str | None:
    """A path with its list index moved to the merged record's index (None: the item is gone)."""
    found = _ITEM.match(path)
    if not found:
        return path
    target = maps[found.group(1)].get(int(found.group(2)))
    return None if target is None else f"{found.group(1)}[{target}]{path[found.end():]}"


# ---------------------------------------------------------------------------------------------- reconcile


def _scalar_paths(model: type[BaseModel] = TableContent, prefix: str = "") -> list[str]:
    paths = []
    for name, info in model.model_fields.items():
        if not prefix and name in ("format_version", "source", "template", "indicators", "category_scores"):
            continue
        path = f"{prefix}.{name}" if prefix else name
        nested = _nested_model(info.annotation)
        paths.extend(_scalar_paths(nested, path) if nested else [path])
    return paths


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    candidates = getattr(annotation, "__args__", None) or (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _read(data: dict[str, Any], path: str) -> Any:
    try:
        return get_path(data, path)
    except PathError:
        return None


def _write(data: dict[str, Any], path: str, value: Any) -> None:
    if path.startswith("funds.") and path.count(".") == 2:
        line = path.split(".")[1]
        if data["funds"].get(line) is None:
            data["funds"][line] = {"total": None, "central_provincial": None, "city": None, "county": None,
                                   "other": None}
    set_path(data, path, value)


def same_value(first: Any, second: Any) -> bool:
    if first is None or second is None:
        return first is None and second is None
    if isinstance(first, (int, float)) and isinstance(second, (int, float)):
        return abs(float(first) - float(second)) <= 1e-9 * max(1.0, abs(float(first)))
    if isinstance(first, str) and isinstance(second, str):
        a, b = normalise(first), normalise(second)
        return a == b or (min(len(a), len(b)) >= LONG_TEXT and fuzz.ratio(a, b) >= TEXT_SAME_RATIO)
    return bool(first == second)


@dataclass
class _Leaf:
    path: str
    """In the merged record."""
    rules_path: str | None
    llm_path: str | None
    rules: Any
    llm: Any


class _Reconciler:
    def __init__(self, rules: Record, llm: Record, index: TableIndex) -> None:
        self.index = index
        self.rules_data = rules.model_dump(mode="json")
        self.llm_data = llm.model_dump(mode="json")
        self.rules, self.llm = rules, llm
        self.maps_rules: dict[str, dict[int, int]] = {}
        self.maps_llm: dict[str, dict[int, int]] = {}
        self.merged = copy.deepcopy(self.rules_data)
        self.leaves: list[_Leaf] = []
        self.from_llm: set[str] = set()
        self.settled: set[str] = set()
        self.flags: list[Flag] = []
        self._base_record: Record | None = None

    def _merge_items(self, key: str, similarity: Callable[[dict[str, Any], dict[str, Any]], float]) -> None:
        left = self.rules_data[key]
        right = [item for index, item in enumerate(self.llm_data[key]) if self._llm_item_printed(key, index, item)]
        kept = [index for index, item in enumerate(self.llm_data[key]) if self._llm_item_printed(key, index, item)]
        order = [(r, kept[j] if j is not None else None)
                 for r, j in merged_order(len(left), len(right), align(left, right, similarity))]
        right = self.llm_data[key]
        self.maps_rules[key] = {r: k for k, (r, _) in enumerate(order) if r is not None}
        self.maps_llm[key] = {j: k for k, (_, j) in enumerate(order) if j is not None}
        self.merged[key] = [copy.deepcopy(left[r]) if r is not None else copy.deepcopy(right[j])  # type: ignore[index]
                            for r, j in order]
        for k, (r, j) in enumerate(order):
            item = left[r] if r is not None else right[j]  # type: ignore[index]
            for name in item:
                path = f"{key}[{k}].{name}"
                rules_path = f"{key}[{r}].{name}" if r is not None else None
                llm_path = f"{key}[{j}].{name}" if j is not None else None
                self.leaves.append(_Leaf(path, rules_path, llm_path, left[r][name] if r is not None else None,
                                         right[j][name] if j is not None else None))
            if j is None:
                self._flag_one_sided(key, k, item, "the rules extractor", "the LLM")
            elif r is None:
                self._take_llm_item(key, k, j, item)

    def _llm_item_printed(self, key: str, index: int, item: dict[str, Any]) -> bool:
        """An LLM row counts only if what identifies it is printed (a name, or a category's numbers)."""
        names = ("name",) if key == "indicators" else ("weight", "score")
        return any(item.get(name) is not None and
                   ground_value(f"{key}[{index}].{name}", item[name], self.llm_data, self.index).grounded
                   for name in names)

    def _take_llm_item(self, key: str, k: int, j: int, item: dict[str, Any]) -> None:
        """A row only the LLM read: kept with its printed values only, and flagged."""
        for name, value in item.items():
            path = f"{key}[{k}].{name}"
            if value is not None and not ground_value(f"{key}[{j}].{name}", value, self.llm_data,
                                                      self.index).grounded:
                self.merged[key][k][name] = None
            self.from_llm.add(path)
        self._flag_one_sided(key, k, item, "the LLM", "the rules extractor")

    def _flag_one_sided(self, key: str, k: int, item: dict[str, Any], reader: str, other: str) -> None:
        label = item.get("name") or item.get("level1") or f"{key}[{k}]"
        self.flags.append(Flag(rule=DISAGREEMENT_RULE, severity="warning", fields=[f"{key}[{k}]"],
                               message=f"{label}: only {reader} read this row; {other} found no such row",
                               values={"row": item}))

    def run(self) -> dict[str, Any]:
        self._merge_items("indicators", indicator_similarity)
        self._merge_items("category_scores", category_similarity)
        for path in _scalar_paths():
            self.leaves.append(_Leaf(path, path, path, _read(self.rules_data, path), _read(self.llm_data, path)))
        disputed = []
        for leaf in self.leaves:
            if leaf.rules_path is None or leaf.llm_path is None:
                continue
            if same_value(leaf.rules, leaf.llm):
                self.settled.add(leaf.path)
            elif leaf.rules is None:
                if self._grounded(leaf, "llm"):
                    _write(self.merged, leaf.path, leaf.llm)
                    self.from_llm.add(leaf.path)
                    self.settled.add(leaf.path)
            elif leaf.llm is None:
                self.flags.append(self._disagreement(leaf, "the LLM found no value here"))
            else:
                disputed.append(leaf)
        base = copy.deepcopy(self.merged)
        for leaf in disputed:
            self._decide(leaf, base)
        return self.merged

    def _grounded(self, leaf: _Leaf, side: str) -> bool:
        data, path, value = ((self.rules_data, leaf.rules_path, leaf.rules) if side == "rules"
                             else (self.llm_data, leaf.llm_path, leaf.llm))
        return ground_value(path, value, data, self.index).grounded  # type: ignore[arg-type]

    def _breaks_rules(self, base: dict[str, Any], path: str, value: Any) -> bool:
        from extract.verify import verify

        levels = _LEVEL.match(path)
        if levels:
            position, key = int(levels.group(1)), levels.group(2)
            printed = printed_level2(base, self.index, position) if key == "level2" else None
            return not _levels_agree(base, position, key, value) or (printed is not None and printed[1] != value)
        if self._base_record is None:
            self._base_record = Record.model_validate({**base, "evidence": {}, "flags": [], "extractor": None})
        record = self._base_record
        line = path.split(".")[1] if path.startswith("funds.") and path.count(".") == 2 else ""
        missing_line = bool(line) and getattr(record.funds, line) is None
        if missing_line:
            setattr(record.funds, line, FundLine())
        old = get_path(record, path)
        try:
            set_path(record, path, value)
            return any(flag.severity == "error" and path in flag.fields for flag in verify(record))
        finally:
            set_path(record, path, old)
            if missing_line:
                setattr(record.funds, line, None)

    def _decide(self, leaf: _Leaf, base: dict[str, Any]) -> None:
        rules_ok = self._grounded(leaf, "rules") and not self._breaks_rules(base, leaf.path, leaf.rules)
        llm_ok = self._grounded(leaf, "llm") and not self._breaks_rules(base, leaf.path, leaf.llm)
        if llm_ok and not rules_ok:
            _write(self.merged, leaf.path, leaf.llm)
            self.from_llm.add(leaf.path)
            self.settled.add(leaf.path)
        elif rules_ok and not llm_ok:
            if isinstance(leaf.llm, str) and isinstance(leaf.rules, str) and \
                    fuzz.ratio(normalise(leaf.rules), normalise(leaf.llm)) >= CLOSE_TEXT_RATIO:
                self.flags.append(self._disagreement(
                    leaf, "the LLM's wording is close but not printed so (a repair of OCR damage, or a misreading)"))
            else:
                self.settled.add(leaf.path)
        else:
            why = ("both readings are printed in the table and agree with the numeric rules" if rules_ok
                   else "neither reading is both printed in the table and consistent with the numeric rules")
            self.flags.append(self._disagreement(leaf, why))

    def _disagreement(self, leaf: _Leaf, why: str) -> Flag:
        value = leaf.rules if leaf.rules is not None else leaf.llm
        return Flag(rule=DISAGREEMENT_RULE, severity=severity_of(leaf.path, value), fields=[leaf.path],
                    message=f"{leaf.path}: the rules extractor read {leaf.rules!r}, the LLM {leaf.llm!r}; {why}; "
                            "the rules' reading is kept",
                    values={"rules": leaf.rules, "llm": leaf.llm})

    def resolved(self, flag: Flag) -> bool:
        """An extractor doubt whose every field the two readings settled."""
        if not flag.rule.startswith(EXTRACTOR_RULE_PREFIX) or not flag.fields:
            return False
        for path in flag.fields:
            under = [leaf.path for leaf in self.leaves
                     if leaf.path == path or leaf.path.startswith((path + ".", path + "["))]
            if not under or not all(p in self.settled for p in under):
                return False
        return True


def _remap_flag(flag: Flag, maps: dict[str, dict[int, int]]) -> Flag | None:
    fields = [remap_path(path, maps) for path in flag.fields]
    if flag.fields and all(path is None for path in fields):
        return None
    return flag.model_copy(update={"fields": [path for path in fields if path is not None]})


def reconcile(rules: Record, llm: Record, index: TableIndex, prompt: Prompt, model: str) -> Record:
    """One record from the two readings of a table; see the module docstring for the policy."""
    work = _Reconciler(rules, llm, index)
    merged = work.run()
    evidence: dict[str, Evidence] = {}
    for source, maps, from_llm in ((rules, work.maps_rules, False), (llm, work.maps_llm, True)):
        for path, found in source.evidence.items():
            target = remap_path(path, maps)
            if target is not None and (target in work.from_llm) == from_llm:
                evidence[target] = found
    for path in work.from_llm:
        value = _read(merged, path)
        if path not in evidence and value is not None:
            located = ground_value(path, value, merged, index)
            if located.evidence is not None:
                evidence[path] = located.evidence
    flags: list[Flag] = []
    for flag in rules.flags:
        moved = _remap_flag(flag, work.maps_rules)
        if moved is not None and not work.resolved(moved):
            flags.append(moved)
    for flag in llm.flags:
        if not flag.rule.startswith(EXTRACTOR_RULE_PREFIX):
            continue
        moved = _remap_flag(flag, work.maps_llm)
        if moved is None:
            continue
        if moved.fields:
            kept = [path for path in moved.fields if path in work.from_llm]
            if not kept:
                continue
            moved = moved.model_copy(update={"fields": kept})
        if not any(existing.rule == moved.rule and existing.message == moved.message for existing in flags):
            flags.append(moved)
    flags.extend(work.flags)
    record = Record.model_validate({**merged, "evidence": {}, "flags": [], "extractor": None, "corrections": []})
    record.evidence = evidence
    record.flags = flags
    record.extractor = ExtractorInfo(backend="hybrid", model=model, version=__version__,  # type: ignore[arg-type]
                                     prompt_version=prompt.version)
    return record
