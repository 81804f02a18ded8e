"""Export the stored records with reviewers' corrections applied, and the corrections log.

Formats: ``jsonl`` (one record a line, the interchange format, so ``jixiao check`` and
``jixiao eval --pred`` read it), ``csv`` (records, indicators and flags as three files)
and ``xlsx`` (sheets ``records``, ``indicators``, ``flags`` and ``corrections``). The
corrections log (every correction and acceptance, who and when) is written beside the
records: ``<name>.corrections.jsonl``/``.csv``, or the ``corrections`` sheet.

Document text is untrusted and spreadsheets run formulas: xlsx cells holding text are
typed as text, never formulas, and csv cells that a spreadsheet would read as a formula
(``=…``, ``+…``, ``@…``, ``-`` before anything but a number) get a leading apostrophe.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
import typing
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from extract.store import Change, ReviewedRecord, Store, all_changes, flag_status, iter_records, unwrap_annotation
from schemas.paths import read_dotted
from schemas.record import Indicator, TableContent

Format = Literal["jsonl", "csv", "xlsx"]
FORMATS: tuple[str, ...] = ("jsonl", "csv", "xlsx")
XLSX_CELL_LIMIT = 32767
SKIPPED_COLUMNS = frozenset({"format_version"})


class ExportError(Exception):
    """The export cannot be written; the message is one line for the user."""


@dataclass
class ExportSummary:
    records: int = 0
    corrected_records: int = 0
    corrections: int = 0
    acceptances: int = 0
    truncated_cells: int = 0
    files: list[Path] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- rows


def scalar_columns(model: type[BaseModel] = TableContent, prefix: str = "") -> list[str]:
    """The record's single-valued field paths, in model order (blocks such as ``funds`` expanded)."""
    columns: list[str] = []
    for name, info in model.model_fields.items():
        if not prefix and name in SKIPPED_COLUMNS:
            continue
        path = f"{prefix}.{name}" if prefix else name
        annotation = unwrap_annotation(info.annotation)
        if typing.get_origin(annotation) is list:
            continue
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            columns.extend(scalar_columns(annotation, path))
        else:
            columns.append(path)
    return columns


SCALAR_COLUMNS = scalar_columns()
RECORD_COLUMNS = ["record", *SCALAR_COLUMNS, "category_scores", "extractor.backend", "flags", "flag errors",
                  "open flags", "corrections", "corrected fields"]
INDICATOR_COLUMNS = ["record", "source.doc", "source.start_line", "project_name", "index",
                     *Indicator.model_fields, "corrected fields"]
FLAG_COLUMNS = ["record", "source.doc", "source.start_line", "project_name", "rule", "severity", "fields",
                "message", "values", "status"]
LOG_COLUMNS = ["record", "doc", "start_line", "end_line", "field", "action", "old", "new", "by", "at", "note",
               "flags"]


def record_row(item: ReviewedRecord) -> list[Any]:
    data = item.record.model_dump(mode="json")
    corrected = sorted({change.field for change in item.changes if change.action == "correct"})
    flags = item.record.flags
    statuses = [flag_status(flag, item.changes) for flag in flags]
    return [item.id, *(read_dotted(data, column) for column in SCALAR_COLUMNS), data["category_scores"],
            item.record.extractor.backend if item.record.extractor else None, len(flags),
            sum(flag.severity == "error" for flag in flags), statuses.count("open"),
            len(item.record.corrections), "; ".join(corrected)]


def indicator_rows(item: ReviewedRecord) -> Iterator[list[Any]]:
    record = item.record
    for index, indicator in enumerate(record.indicators):
        prefix = f"indicators[{index}]."
        corrected = sorted({change.field.removeprefix(prefix) for change in item.changes
                            if change.action == "correct" and change.field.startswith(prefix)})
        values = indicator.model_dump(mode="json")
        yield [item.id, record.source.doc, record.source.start_line, record.project_name, index,
               *(values[name] for name in Indicator.model_fields), "; ".join(corrected)]


def flag_rows(item: ReviewedRecord) -> Iterator[list[Any]]:
    record = item.record
    for flag in record.flags:
        yield [item.id, record.source.doc, record.source.start_line, record.project_name, flag.rule, flag.severity,
               "; ".join(flag.fields), flag.message, flag.model_dump(mode="json")["values"],
               flag_status(flag, item.changes)]


def log_entry(change: Change, doc: str, start: int | None, end: int | None) -> dict[str, Any]:
    return {"record": change.record_id, "doc": doc, "start_line": start, "end_line": end, "field": change.field,
            "action": change.action, "old": change.old, "new": change.new, "by": change.reviewer,
            "at": change.at.isoformat(), "note": change.note, "flags": sorted(change.seen_rules)}


# ---------------------------------------------------------------------------------------------- cells


_FORMULA_START = re.compile(r"^(?:[=+@\t\r]|-(?![\d.,%\s]*$))")


def plain_cell(value: Any) -> Any:
    """A value a spreadsheet cell can hold: lists and blocks become JSON text."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False) if value else None
    return value


def csv_cell(value: Any) -> Any:
    value = plain_cell(value)
    if isinstance(value, str) and _FORMULA_START.match(value):
        return "'" + value
    return value


# ---------------------------------------------------------------------------------------------- writers


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextmanager
def _atomic(path: Path, mode: str = "w", **options: Any) -> Iterator[Any]:
    """Write beside the target and rename at the end: an interrupted export leaves no half file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as error:
        raise ExportError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(handle, mode, **options) as stream:
            yield stream
        os.chmod(temporary, 0o666 & ~_UMASK)
        os.replace(temporary, path)
    except OSError as error:
        raise ExportError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _sibling(output: Path, part: str, suffix: str) -> Path:
    return output.with_name(f"{output.stem}.{part}{suffix}")


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    with _atomic(path, "w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        for row in rows:
            writer.writerow([csv_cell(value) for value in row])


def _write_log(path: Path, entries: list[dict[str, Any]]) -> None:
    if path.suffix.lower() == ".csv":
        _write_csv(path, LOG_COLUMNS, ([entry[column] for column in LOG_COLUMNS] for entry in entries))
        return
    with _atomic(path, "w", encoding="utf-8") as stream:
        for entry in entries:
            stream.write(json.dumps(entry, ensure_ascii=False) + "\n")


def _write_xlsx(path: Path, sheets: dict[str, tuple[Sequence[str], list[list[Any]]]], summary: ExportSummary) -> None:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, (header, rows) in sheets.items():
        sheet = workbook.create_sheet(title)
        sheet.append(list(header))
        for row in rows:
            cells = []
            for value in row:
                value = plain_cell(value)
                cell = Cell(sheet)
                if isinstance(value, str):
                    value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
                    if len(value) > XLSX_CELL_LIMIT:
                        value = value[:XLSX_CELL_LIMIT - 12] + "…[truncated]"
                        summary.truncated_cells += 1
                    cell.value = value
                    cell.data_type = "s"
                else:
                    cell.value = value
                cells.append(cell)
            sheet.append(cells)
        sheet.freeze_panes = "A2"
    with _atomic(path, "wb") as stream:
        workbook.save(stream)


def export_store(store: Store, fmt: str, output: Path, log: Path | None = None) -> ExportSummary:
    """Write every stored record (corrections applied) and the corrections log; return what was written."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    summary = ExportSummary()
    entries = [log_entry(*row) for row in all_changes(store)]
    summary.corrections = sum(entry["action"] == "correct" for entry in entries)
    summary.acceptances = len(entries) - summary.corrections
    if fmt == "jsonl":
        with _atomic(output, "w", encoding="utf-8") as stream:
            for item in iter_records(store):
                _count(summary, item)
                stream.write(item.record.model_dump_json() + "\n")
        summary.files.append(output)
    else:
        records, indicators, flags = [], [], []
        for item in iter_records(store):
            _count(summary, item)
            records.append(record_row(item))
            indicators.extend(indicator_rows(item))
            flags.extend(flag_rows(item))
        if fmt == "csv":
            parts = ((output, RECORD_COLUMNS, records),
                     (_sibling(output, "indicators", ".csv"), INDICATOR_COLUMNS, indicators),
                     (_sibling(output, "flags", ".csv"), FLAG_COLUMNS, flags))
            for path, header, rows in parts:
                _write_csv(path, header, rows)
                summary.files.append(path)
        else:
            log_rows = [[entry[column] for column in LOG_COLUMNS] for entry in entries]
            _write_xlsx(output, {"records": (RECORD_COLUMNS, records), "indicators": (INDICATOR_COLUMNS, indicators),
                                 "flags": (FLAG_COLUMNS, flags), "corrections": (LOG_COLUMNS, log_rows)}, summary)
            summary.files.append(output)
    if log is None and fmt != "xlsx":
        log = _sibling(output, "corrections", ".csv" if fmt == "csv" else ".jsonl")
    if log is not None:
        _write_log(log, entries)
        summary.files.append(log)
    return summary


def _count(summary: ExportSummary, item: ReviewedRecord) -> None:
    summary.records += 1
    summary.corrected_records += bool(item.record.corrections)
