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
    document_flags: list = field(default_factory=list)
    """Findings about the document as a whole (the 绩效自评 statement vs the tables found)."""


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
                     known_names=None, llm=None) -> DocumentResult:
    """All tables of one loaded document; ``known_names`` adds a user's list to the names the document states.

    ``llm`` is the ``extract.llm.runner.LLMSession`` of the llm/hybrid backends (None: from the environment).
    """
    outcome, spans = _start_document(document)
    if spans is None:
        return outcome
    results = _extract_spans([(document, span) for span in spans], backend, llm=llm)
    return _complete_document(outcome, document, results, post, known_names)


def _start_document(document: Document) -> tuple[DocumentResult, list[TableSpan] | None]:
    """The document's tables, or (when segmenting fails) an outcome holding the error and None."""
    outcome = DocumentResult(document.name, warnings=list(document.warnings))
    try:
        spans = segment(document)
    except Exception as error:  # noqa: BLE001 - a broken document is reported, never raised
        outcome.results.append(ErrorEntry(doc=document.name, stage="segment", message=_one_line(error)))
        return outcome, None
    if not spans:
        outcome.warnings.append(f"{document.name}: no self-evaluation table found")
    return outcome, spans


def _complete_document(outcome: DocumentResult, document: Document, results: list[Result],
                       post: Callable[[Record], Record] | None, known_names=None) -> DocumentResult:
    records: list[Record] = []
    for result in results:
        if isinstance(result, Record):
            records.append(result)
        outcome.results.append(result)
    if post is not None or records:
        outcome.results = [_finish(result, document, post, known_names) for result in outcome.results]
    outcome.document_flags = _document_flags(document, outcome.results)
    return outcome


def _document_flags(document: Document, results: list[Result]) -> list:
    from extract.doccheck import document_report

    try:
        return document_report(document.lines, [r for r in results if isinstance(r, Record)], document.name).flags
    except Exception as error:  # noqa: BLE001
        log.debug("document check failed", exc_info=True)
        return [_stage_flag("document-check", error)]


def flag_duplicates(earlier: list[Record], current: list[Result]) -> list[Result]:
    """Flag tables of ``current`` that repeat a table already seen (in this or an earlier document)
    with different values; records already written are left as they are."""
    from extract.doccheck import apply_duplicate_flags, same_table

    fresh = [result for result in current if isinstance(result, Record)]
    if not fresh:
        return current
    twins = [record for record in earlier if any(same_table(record, new) for new in fresh)]
    updated = iter(apply_duplicate_flags([*twins, *fresh])[len(twins):])
    return [next(updated) if isinstance(result, Record) else result for result in current]


def _finish(result: Result, document: Document, post: Callable[[Record], Record] | None,
            known_names=None) -> Result:
    if not isinstance(result, Record):
        return result
    try:
        record = _match_and_verify(result, document, known_names)
        return post(record) if post is not None else record
    except Exception as error:  # noqa: BLE001
        log.debug("verification failed", exc_info=True)
        result.flags.append(_stage_flag("verify", error))
        return result


LLM_BACKENDS = ("llm", "hybrid")


def _extract_spans(items: list[tuple[Document, TableSpan]], backend: str, *, llm=None) -> list[Result]:
    """Tables one by one for the rules; for the LLM backends one batch, its calls made concurrently."""
    if backend not in LLM_BACKENDS:
        return [extract_span(document, span, backend) for document, span in items]
    from extract.hybrid import extract_with_llm

    return extract_with_llm(items, backend, llm)


def extract_span(document: Document, span: TableSpan, backend: str = "rules", *, llm=None) -> Result:
    """One table: clean then extract; an exception becomes an error entry for this table only."""
    if backend in LLM_BACKENDS:
        return _extract_spans([(document, span)], backend, llm=llm)[0]
    try:
        grid = clean(document, span)
        if backend != "rules":
            raise ValueError(f"backend {backend!r} is not available in the offline pipeline")
        return extract_rules(grid)
    except Exception as error:  # noqa: BLE001
        log.debug("table failed", exc_info=True)
        return ErrorEntry(doc=document.name, start_line=span.start_line, end_line=span.end_line,
                          stage="extract", message=_one_line(error))


def _match_and_verify(record: Record, document: Document, user_names=None) -> Record:
    """Name matching against the document's own names (and the user's list), then the numeric rules."""
    from extract import names
    from extract.verify import apply_verification

    known = _known_names(document)
    if user_names is not None:
        known = known.merged(user_names)
    record = names.canonicalise_names(record, known)
    return apply_verification(record)


_KNOWN_CACHE: list[tuple[Document, object]] = []
"""The last document's harvested names. The document itself is kept and compared by identity:
an ``id()`` key can be reused by the next document once the last one is freed."""


def _known_names(document: Document):
    from extract import names

    if not _KNOWN_CACHE or _KNOWN_CACHE[0][0] is not document:
        _KNOWN_CACHE[:] = [(document, names.harvest_known_names(document.lines))]
    return _KNOWN_CACHE[0][1]


def _stage_flag(stage: str, error: Exception):
    from schemas.record import Flag

    return Flag(rule=f"extract-{stage}-failed", severity="error", fields=[],
                message=f"the {stage} stage failed: {_one_line(error)}")


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return f"{type(error).__name__}: {text}" if not isinstance(error, (LoadError, ValueError)) else text


def iter_paths(paths: list[Path], backend: str = "rules", *, known_names=None, llm=None) -> Iterator[DocumentResult]:
    """Documents one by one (a batch streams); tables repeating an earlier table are cross-checked.

    With the llm/hybrid backends every table of every document goes into one batch first, so
    that LLM calls run concurrently across documents; the documents are then yielded in order.
    """
    if backend in LLM_BACKENDS:
        yield from _iter_paths_batched(paths, backend, known_names=known_names, llm=llm)
        return
    seen: list[Record] = []
    for path in paths:
        try:
            document = load(path)
        except LoadError as error:
            yield DocumentResult(path.name, [ErrorEntry(doc=path.name, stage="load", message=str(error))])
            continue
        outcome = extract_document(document, backend, known_names=known_names)
        outcome.results = flag_duplicates(seen, outcome.results)
        seen.extend(result for result in outcome.results if isinstance(result, Record))
        yield outcome


def _iter_paths_batched(paths: list[Path], backend: str, *, known_names=None, llm=None) -> Iterator[DocumentResult]:
    """Load and segment every document, extract all their tables in one LLM batch, then finish each."""
    started: list[tuple[DocumentResult, Document | None, list[TableSpan]]] = []
    for path in paths:
        try:
            document = load(path)
        except LoadError as error:
            started.append((DocumentResult(path.name, [ErrorEntry(doc=path.name, stage="load", message=str(error))]),
                            None, []))
            continue
        outcome, spans = _start_document(document)
        started.append((outcome, document if spans is not None else None, spans or []))
    items = [(document, span) for _, document, spans in started if document is not None for span in spans]
    results = iter(_extract_spans(items, backend, llm=llm))
    seen: list[Record] = []
    for outcome, document, spans in started:
        if document is not None:
            outcome = _complete_document(outcome, document, [next(results) for _ in spans], None, known_names)
            outcome.results = flag_duplicates(seen, outcome.results)
            seen.extend(result for result in outcome.results if isinstance(result, Record))
        yield outcome


def extract_paths(paths: list[Path], backend: str = "rules", *, known_names=None) -> list[Result]:
    """Every table of every file, as records or error entries."""
    results: list[Result] = []
    for outcome in iter_paths(expand_paths(paths), backend, known_names=known_names):
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
    from extract import match, repair, rules
    from extract import segment as segment_module

    repair.clean_cell.cache_clear()
    match.match_in.cache_clear()
    match.match_label.cache_clear()
    rules._category_variants.cache_clear()
    match.normalise.cache_clear()
    segment_module._is_header_label.cache_clear()
    _KNOWN_CACHE.clear()
