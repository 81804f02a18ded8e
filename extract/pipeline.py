"""The offline pipeline wired end to end: load → segment → clean → extract → match → verify.

Each table ends as a ``Record`` or as an ``ErrorEntry`` that says why; an
exception inside one table never stops the others, and a file that cannot be
read becomes one error entry while the batch goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from extract.clean import clean
from extract.load import Document, LoadError, load, load_text
from extract.rules import extract_rules
from extract.segment import TableSpan, segment
from schemas.record import ErrorEntry, Record

log = logging.getLogger(__name__)

Result = Record | ErrorEntry
TEXT_SUFFIXES = (".txt", ".text", ".md", ".tsv")


@dataclass
class DocumentResult:
    doc: str
    results: list[Result] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders as their text files (sorted), in order, without repeats."""
    found: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        children = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES) \
            if path.is_dir() else [path]
        for child in children:
            if child not in seen:
                seen.add(child)
                found.append(child)
    return found


def extract_document(document: Document, backend: str = "rules", *, post: Callable[[Record], Record] | None = None,
                     ) -> DocumentResult:
    """All tables of one loaded document."""
    outcome = DocumentResult(document.name, warnings=list(document.warnings))
    try:
        spans = segment(document)
    except Exception as error:  # noqa: BLE001 - a broken document is reported, never raised
        outcome.results.append(ErrorEntry(doc=document.name, stage="segment", message=_one_line(error)))
        return outcome
    if not spans:
        outcome.warnings.append(f"{document.name}: no self-evaluation table found")
    records: list[Record] = []
    for span in spans:
        result = extract_span(document, span, backend)
        if isinstance(result, Record):
            records.append(result)
        outcome.results.append(result)
    if post is not None or records:
        outcome.results = [_finish(result, document, records, post) for result in outcome.results]
    return outcome


def _finish(result: Result, document: Document, records: list[Record],
            post: Callable[[Record], Record] | None) -> Result:
    if not isinstance(result, Record):
        return result
    try:
        record = _match_and_verify(result, document)
        return post(record) if post is not None else record
    except Exception as error:  # noqa: BLE001
        log.debug("verification failed", exc_info=True)
        result.flags.append(_stage_flag("verify", error))
        return result


def extract_span(document: Document, span: TableSpan, backend: str = "rules") -> Result:
    """One table: clean then extract; an exception becomes an error entry for this table only."""
    try:
        grid = clean(document, span)
        if backend != "rules":
            raise ValueError(f"backend {backend!r} is not available in the offline pipeline")
        return extract_rules(grid)
    except Exception as error:  # noqa: BLE001
        log.debug("table failed", exc_info=True)
        return ErrorEntry(doc=document.name, start_line=span.start_line, end_line=span.end_line,
                          stage="extract", message=_one_line(error))


def _match_and_verify(record: Record, document: Document) -> Record:
    """Name matching and the numeric rules, where those stages are installed."""
    try:
        from extract import names
    except ImportError:
        names = None
    if names is not None and hasattr(names, "canonicalise_names"):
        known = _known_names(document)
        record = names.canonicalise_names(record, known)
    try:
        from extract.verify import apply_verification
    except ImportError:
        return record
    return apply_verification(record)


_KNOWN_CACHE: dict[int, object] = {}


def _known_names(document: Document):
    from extract import names

    key = id(document)
    if key not in _KNOWN_CACHE:
        _KNOWN_CACHE.clear()
        _KNOWN_CACHE[key] = names.harvest_known_names(document.lines)
    return _KNOWN_CACHE[key]


def _stage_flag(stage: str, error: Exception):
    from schemas.record import Flag

    return Flag(rule=f"extract-{stage}-failed", severity="error", fields=[],
                message=f"the {stage} stage failed: {_one_line(error)}")


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return f"{type(error).__name__}: {text}" if not isinstance(error, (LoadError, ValueError)) else text


def iter_paths(paths: list[Path], backend: str = "rules") -> Iterator[DocumentResult]:
    for path in paths:
        try:
            document = load(path)
        except LoadError as error:
            yield DocumentResult(path.name, [ErrorEntry(doc=path.name, stage="load", message=str(error))])
            continue
        yield extract_document(document, backend)


def extract_paths(paths: list[Path], backend: str = "rules") -> list[Result]:
    """Every table of every file, as records or error entries."""
    results: list[Result] = []
    for outcome in iter_paths(expand_paths(paths), backend):
        results.extend(outcome.results)
    return results


def extract_text(text: str, doc: str, backend: str = "rules") -> list[Result]:
    """Every table of a text held in memory (tests, noise runs)."""
    try:
        document = load_text(text, doc)
    except LoadError as error:
        return [ErrorEntry(doc=doc, stage="load", message=str(error))]
    return extract_document(document, backend).results


def clear_caches() -> None:
    """Forget memoised cell repairs and label matches (benchmarks measure cold runs)."""
    from extract import match, repair, segment as segment_module

    repair.clean_cell.cache_clear()
    match.match_in.cache_clear()
    segment_module._is_header_label.cache_clear()
    _KNOWN_CACHE.clear()
