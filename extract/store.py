"""The store: runs, documents, tables, records, flags and reviewers' changes in one database.

SQLite by default (one file, ``--db PATH``); any SQLAlchemy URL otherwise
(``postgresql://…``), so that a team can share one server. The shape follows from
three promises:

- **Idempotent, resumable runs.** A document is keyed by the SHA-256 of its text and
  stored together with all its tables, records and flags in one transaction: a rerun
  skips what is stored, and a run killed half-way leaves whole documents or none.
- **Extracted values are never overwritten.** ``records.data`` keeps the record as the
  extractor wrote it; reviewers' changes are rows of ``corrections`` beside it, applied
  in order on read, after which the record is re-verified.
- **The review queue is one query.** ``flags``/``flag_fields`` hold each record's
  *current* flags (after corrections), rewritten whenever a change is saved.

A change is either a correction (a new value) or an acceptance (the value is right as
printed, the flags on it are acknowledged). Both name the reviewer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import threading
import types
import typing
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from extract import __version__
from extract.load import Document, LoadError, load
from extract.pipeline import DocumentResult
from extract.verify import RULES, apply_verification
from schemas.paths import META_KEYS, PathError, get_path, parse_path, set_path
from schemas.record import Correction, ErrorEntry, Flag, Record

SCHEMA_VERSION = "1"
SEVERITY_RANK = {"error": 0, "warning": 1}
RECORD_LEVEL = ""
"""The pseudo field path of a flag that names no field: it can be accepted, not corrected."""
NOT_REVIEWABLE = META_KEYS | {"format_version", "source"}
Action = Literal["correct", "accept"]


class StoreError(Exception):
    """The database cannot be opened or written; the message is one line for the user."""


class ReviewInputError(ValueError):
    """A reviewer's change that cannot be saved (bad path, bad value, stale page); one line."""


# ---------------------------------------------------------------------------------------------- tables


class Base(DeclarativeBase):
    pass


class MetaRow(Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class RunRow(Base):
    """One ``jixiao extract --db`` invocation; ``finished_at`` stays empty for a killed run."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    backend: Mapped[str] = mapped_column(String(20))
    version: Mapped[str] = mapped_column(String(20))
    documents_added: Mapped[int] = mapped_column(Integer, default=0)
    documents_skipped: Mapped[int] = mapped_column(Integer, default=0)
    documents_unreadable: Mapped[int] = mapped_column(Integer, default=0)
    records_added: Mapped[int] = mapped_column(Integer, default=0)
    tables_failed: Mapped[int] = mapped_column(Integer, default=0)


class DocumentRow(Base):
    """A document's text, kept so that the review page can show any table's source lines."""

    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(500))
    encoding: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    line_count: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    stored_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    flags: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """Findings about the document as a whole (its 绩效自评 statement against the tables found)."""
    tables: Mapped[list[TableRow]] = relationship(back_populates="document", order_by="TableRow.position")


class TableRow(Base):
    """A table found in a document: it became a record, or an error says why not."""

    __tablename__ = "tables"
    __table_args__ = (UniqueConstraint("document_id", "position"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    start_line: Mapped[int | None] = mapped_column(Integer)
    end_line: Mapped[int | None] = mapped_column(Integer)
    template: Mapped[str | None] = mapped_column(String(40))
    error_stage: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)
    document: Mapped[DocumentRow] = relationship(back_populates="tables")
    record: Mapped[RecordRow | None] = relationship(back_populates="table")


class RecordRow(Base):
    """The record as extracted (``data``, never updated) and a label for listings."""

    __tablename__ = "records"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    table_id: Mapped[int] = mapped_column(ForeignKey("tables.id"), unique=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    backend: Mapped[str | None] = mapped_column(String(20))
    label: Mapped[str | None] = mapped_column(Text)
    table: Mapped[TableRow] = relationship(back_populates="record")


class FlagRow(Base):
    """A current flag of a record; ``recomputed`` when the verifier owns it (its rule id is in RULES)."""

    __tablename__ = "flags"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    rule: Mapped[str] = mapped_column(String(80))
    severity: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
    fields: Mapped[list[str]] = mapped_column(JSON)
    recomputed: Mapped[bool] = mapped_column(Boolean)
    field_rows: Mapped[list[FlagFieldRow]] = relationship(cascade="all, delete-orphan")


class FlagFieldRow(Base):
    """One field named by a flag: the unit of the review queue."""

    __tablename__ = "flag_fields"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    flag_id: Mapped[int] = mapped_column(ForeignKey("flags.id", ondelete="CASCADE"), index=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"), index=True)
    path: Mapped[str] = mapped_column(String(200))


class CorrectionRow(Base):
    """A reviewer's change of one field: a correction (old → new) or an acceptance (old = new)."""

    __tablename__ = "corrections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"), index=True)
    field: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(10))
    old: Mapped[Any] = mapped_column(JSON)
    new: Mapped[Any] = mapped_column(JSON)
    typed: Mapped[str | None] = mapped_column(Text)
    """The value as the reviewer typed it: the verifier reads its printed precision ("9.0")."""
    reviewer: Mapped[str] = mapped_column(String(100))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
    flags_seen: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    """The flags on the field when the change was made ({rule, severity}); an acceptance acknowledges them."""


# ---------------------------------------------------------------------------------------------- opening


@dataclass
class Store:
    """An open database; sessions come from ``session()``."""

    engine: Engine
    url: str
    write_lock: threading.Lock = field(default_factory=threading.Lock)

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()


def database_url(db: str) -> str:
    """A SQLAlchemy URL for ``--db``: a URL as given (postgres gets an installed driver), else a SQLite file."""
    if "://" not in db:
        return f"sqlite:///{Path(db).expanduser().resolve()}"
    scheme, rest = db.split("://", 1)
    if scheme in ("postgres", "postgresql"):
        return f"postgresql+{_postgres_driver()}://{rest}"
    return db


def _postgres_driver() -> str:
    for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        try:
            __import__(module)
            return driver
        except ImportError:
            continue
    raise StoreError("PostgreSQL needs a driver: pip install 'psycopg[binary]'")


def open_store(db: str, *, create: bool = True) -> Store:
    """Open (and with ``create``, make) the database named by ``--db``."""
    url = database_url(db)
    is_sqlite = url.startswith("sqlite")
    if is_sqlite:
        path = Path(url.removeprefix("sqlite:///"))
        if not create and not path.is_file():
            raise StoreError(f"no such database: {db} (run jixiao extract --db {db} first)")
        if create and not path.parent.is_dir():
            raise StoreError(f"cannot create {db}: folder {path.parent} does not exist")
    try:
        engine = create_engine(url)
    except (SQLAlchemyError, ImportError, ValueError) as error:
        raise StoreError(f"cannot open database {redact_url(db)}: {_first_line(error)}") from None
    if is_sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
    store = Store(engine, url)
    try:
        _prepare_schema(store, create)
    except SQLAlchemyError as error:
        engine.dispose()
        raise StoreError(f"cannot open database {redact_url(db)}: {_first_line(error)}") from None
    return store


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """WAL lets the review page read while an extract run writes; foreign keys keep rows whole."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA busy_timeout = 30000")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _prepare_schema(store: Store, create: bool) -> None:
    with store.session() as session:
        has_meta = store.engine.dialect.has_table(session.connection(), "meta")
        if not has_meta:
            if not create:
                raise StoreError("the database holds no jixiao store (run jixiao extract --db first)")
            session.close()
            Base.metadata.create_all(store.engine)
            with store.session() as fresh, fresh.begin():
                fresh.merge(MetaRow(key="schema_version", value=SCHEMA_VERSION))
            return
        version = session.get(MetaRow, "schema_version")
        if version is None or version.value != SCHEMA_VERSION:
            found = version.value if version else "none"
            raise StoreError(f"the database has store schema {found}; this jixiao reads schema {SCHEMA_VERSION}")


def redact_url(db: str) -> str:
    """A URL without its password, for messages."""
    if "://" in db and "@" in db:
        scheme, rest = db.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        if ":" in credentials:
            return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
    return db


def _first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _utc(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; every time in the store is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


# ---------------------------------------------------------------------------------------------- runs


def content_hash(lines: Sequence[str]) -> str:
    """The key of a document: its decoded text, so a re-encoded copy is the same document."""
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


@dataclass
class RunPlan:
    """Which files a run must extract, and which it skips because their text is already stored."""

    run_id: int
    pending: list[Path]
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    """(file, name under which the same text is stored or queued)."""


@dataclass
class SaveResult:
    added: bool
    records: int = 0
    failed_tables: int = 0
    reason: str = ""
    record_ids: list[int] = field(default_factory=list)


def start_run(store: Store, paths: Sequence[Path], backend: str) -> RunPlan:
    """Record a run and sort its files into pending and already stored (by content hash).

    Files that cannot be read stay pending, so that the extractor reports them.
    """
    hashes: dict[Path, str] = {}
    for path in paths:
        try:
            hashes[path] = content_hash(load(path).lines)
        except LoadError:
            continue
    stored = _stored_names(store, set(hashes.values()))
    plan_pending: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    queued: dict[str, str] = {}
    for path in paths:
        digest = hashes.get(path)
        if digest is not None and digest in stored:
            skipped.append((path, stored[digest]))
        elif digest is not None and digest in queued:
            skipped.append((path, queued[digest]))
        else:
            plan_pending.append(path)
            if digest is not None:
                queued[digest] = path.name
    try:
        with store.session() as session, session.begin():
            run = RunRow(started_at=_now(), backend=backend, version=__version__, documents_skipped=len(skipped))
            session.add(run)
            session.flush()
            run_id = run.id
    except SQLAlchemyError as error:
        raise StoreError(f"cannot write to the database: {_first_line(error)}") from None
    return RunPlan(run_id, plan_pending, skipped)


def _stored_names(store: Store, hashes: set[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    ordered = sorted(hashes)
    with store.session() as session:
        for start in range(0, len(ordered), 500):
            chunk = ordered[start:start + 500]
            rows = session.execute(select(DocumentRow.content_hash, DocumentRow.name)
                                   .where(DocumentRow.content_hash.in_(chunk)))
            found.update({digest: name for digest, name in rows})
    return found


def save_outcome(store: Store, run_id: int, path: Path, outcome: DocumentResult) -> SaveResult:
    """Store one document with all its tables, records and flags, in one transaction.

    The file is read again for its text (the pipeline does not hand the document on);
    a document whose text is already stored is skipped, so reruns add nothing twice.
    """
    try:
        document = load(path)
    except LoadError:
        _bump_run(store, run_id, documents_unreadable=1)
        return SaveResult(False, reason="unreadable")
    try:
        with store.session() as session, session.begin():
            return _insert_document(session, run_id, document, outcome)
    except IntegrityError:
        _bump_run(store, run_id, documents_skipped=1)
        return SaveResult(False, reason="stored meanwhile by another run")
    except SQLAlchemyError as error:
        raise StoreError(f"cannot write {path.name} to the database: {_first_line(error)}") from None


def save_document(store: Store, run_id: int, document: Document, outcome: DocumentResult) -> SaveResult:
    """``save_outcome`` for a document already in memory (tests, callers that loaded it themselves)."""
    try:
        with store.session() as session, session.begin():
            return _insert_document(session, run_id, document, outcome)
    except IntegrityError:
        return SaveResult(False, reason="stored meanwhile by another run")
    except SQLAlchemyError as error:
        raise StoreError(f"cannot write {document.name} to the database: {_first_line(error)}") from None


def _insert_document(session: Session, run_id: int, document: Document, outcome: DocumentResult) -> SaveResult:
    digest = content_hash(document.lines)
    run = session.get(RunRow, run_id)
    if run is None:
        raise StoreError(f"run {run_id} is not in the database")
    if session.scalar(select(DocumentRow.id).where(DocumentRow.content_hash == digest)) is not None:
        run.documents_skipped += 1
        return SaveResult(False, reason="already stored")
    row = DocumentRow(content_hash=digest, name=document.name, encoding=document.encoding,
                      text="\n".join(document.lines), line_count=len(document.lines), run_id=run_id,
                      stored_at=_now(), flags=[_flag_json(flag) for flag in outcome.document_flags])
    session.add(row)
    session.flush()
    result = SaveResult(True)
    for position, item in enumerate(outcome.results):
        table = _table_row(row.id, position, item)
        session.add(table)
        session.flush()
        if isinstance(item, Record):
            record_row = RecordRow(table_id=table.id, data=item.model_dump(mode="json"),
                                   backend=item.extractor.backend if item.extractor else None, label=_label(item))
            session.add(record_row)
            session.flush()
            _write_flags(session, record_row.id, item.flags)
            result.records += 1
            result.record_ids.append(record_row.id)
        else:
            result.failed_tables += 1
    run.documents_added += 1
    run.records_added += result.records
    run.tables_failed += result.failed_tables
    return result


def _table_row(document_id: int, position: int, item: Record | ErrorEntry) -> TableRow:
    if isinstance(item, Record):
        return TableRow(document_id=document_id, position=position, start_line=item.source.start_line,
                        end_line=item.source.end_line, template=item.template)
    return TableRow(document_id=document_id, position=position, start_line=item.start_line,
                    end_line=item.end_line, error_stage=item.stage, error_message=item.message)


def _label(record: Record) -> str | None:
    return record.project_name or record.title


def _bump_run(store: Store, run_id: int, **increments: int) -> None:
    with store.session() as session, session.begin():
        run = session.get(RunRow, run_id)
        if run is not None:
            for name, amount in increments.items():
                setattr(run, name, getattr(run, name) + amount)


def finish_run(store: Store, run_id: int) -> RunRow:
    """Mark the run finished and return its counters."""
    with store.session() as session, session.begin():
        run = session.get(RunRow, run_id)
        if run is None:
            raise StoreError(f"run {run_id} is not in the database")
        run.finished_at = _now()
        return run


# ---------------------------------------------------------------------------------------------- flags


def _write_flags(session: Session, record_id: int, flags: Iterable[Flag]) -> None:
    for position, flag in enumerate(flags):
        session.add(FlagRow(record_id=record_id, position=position, rule=flag.rule, severity=flag.severity,
                            message=flag.message, values=flag.model_dump(mode="json")["values"], fields=list(flag.fields),
                            recomputed=flag.rule in RULES,
                            field_rows=[FlagFieldRow(record_id=record_id, path=path)
                                        for path in dict.fromkeys(flag.fields or [RECORD_LEVEL])]))


def _replace_flags(session: Session, record_id: int, flags: Iterable[Flag]) -> None:
    session.execute(delete(FlagFieldRow).where(FlagFieldRow.record_id == record_id))
    session.execute(delete(FlagRow).where(FlagRow.record_id == record_id))
    _write_flags(session, record_id, flags)


def _flag_json(flag: Any) -> dict[str, Any]:
    return flag.model_dump(mode="json") if isinstance(flag, BaseModel) else {"message": str(flag)}


# ---------------------------------------------------------------------------------------------- field paths


def field_annotation(path: str) -> Any:
    """The model annotation of the field a path names, checked against the schema (not the data)."""
    steps = parse_path(path)
    if not isinstance(steps[0], str) or steps[0] in NOT_REVIEWABLE:
        raise PathError(f"{path!r} is not a reviewable field")
    annotation: Any = Record
    for step in steps:
        annotation = unwrap_annotation(annotation)
        if isinstance(step, int):
            if typing.get_origin(annotation) is not list:
                raise PathError(f"{path!r}: [{step}] on a field that is not a list")
            annotation = typing.get_args(annotation)[0]
        else:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)) \
                    or step not in annotation.model_fields:
                raise PathError(f"{path!r}: no field {step!r}")
            annotation = annotation.model_fields[step].annotation
    return unwrap_annotation(annotation)


def unwrap_annotation(annotation: Any) -> Any:
    """``FundLine | None`` → FundLine, ``Annotated[float, …]`` → float."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation


def is_scalar(annotation: Any) -> bool:
    if typing.get_origin(annotation) in (list, dict):
        return False
    return not (isinstance(annotation, type) and issubclass(annotation, BaseModel))


def check_field(record: Record, path: str, action: Action) -> None:
    """Raise ``PathError`` unless a reviewer may take ``action`` on ``path`` of this record.

    Both actions need a path of the schema whose list indexes exist in the record;
    a correction needs a single value (a number, a text, a date), not a list or a block.
    """
    if path == RECORD_LEVEL:
        if action == "correct":
            raise PathError("a flag on the whole record can be accepted, not corrected")
        return
    annotation = field_annotation(path)
    current: Any = record
    for step in parse_path(path):
        if isinstance(step, int):
            if not isinstance(current, list) or step >= len(current):
                raise PathError(f"{path!r}: index {step} out of range")
            current = current[step]
        elif current is None:
            break
        else:
            current = getattr(current, step)
    if action == "correct" and not is_scalar(annotation):
        raise PathError(f"{path!r} is a list or a block of fields; correct one of its values")


def read_field(record: Record, path: str) -> Any:
    """The JSON value at ``path`` (None where a parent block is empty)."""
    if path == RECORD_LEVEL:
        return None
    try:
        value = get_path(record, path)
    except PathError:
        return None
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [item.model_dump(mode="json") if isinstance(item, BaseModel) else item for item in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def write_field(record: Record, path: str, value: Any) -> None:
    """Set a value, creating an empty block (e.g. ``funds.received``) where the form printed none."""
    steps = parse_path(path)
    current: Any = record
    for step in steps[:-1]:
        if isinstance(step, int):
            if not isinstance(current, list) or step >= len(current):
                raise PathError(f"{path!r}: index {step} out of range")
            current = current[step]
            continue
        child = getattr(current, step)
        if child is None:
            model = unwrap_annotation(type(current).model_fields[step].annotation)
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                raise PathError(f"{path!r}: {step!r} is empty and not a block")
            setattr(current, step, model())
            child = getattr(current, step)
        current = child
    set_path(record, path, value)


def parse_value(record: Record, path: str, typed: str) -> Any:
    """The JSON value a reviewer's text stands for, validated by the record model; empty means null."""
    text = typed.strip()
    trial = record.model_copy(deep=True)
    try:
        write_field(trial, path, text or None)
    except ValidationError as error:
        problem = error.errors()[0]["msg"]
        raise ReviewInputError(f"{path}: {problem} (got {text!r})") from None
    value = read_field(trial, path)
    if isinstance(value, float) and not math.isfinite(value):
        raise ReviewInputError(f"{path}: enter a finite number (got {text!r})")
    return value


# ---------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Change:
    """A reviewer's change as stored: a correction or an acceptance."""

    id: int
    record_id: int
    field: str
    action: str
    old: Any
    new: Any
    typed: str | None
    reviewer: str
    at: dt.datetime
    note: str | None
    flags_seen: tuple[tuple[str, str], ...]

    @property
    def seen_rules(self) -> frozenset[str]:
        return frozenset(rule for rule, _severity in self.flags_seen)


@dataclass
class ReviewedRecord:
    """A stored record as a reader sees it: corrections applied, re-verified."""

    id: int
    doc: str
    document_id: int
    record: Record
    original: Record
    changes: list[Change]

    def changes_of(self, path: str) -> list[Change]:
        return [change for change in self.changes if change.field == path]


def _change(row: CorrectionRow) -> Change:
    seen = tuple((item.get("rule", ""), item.get("severity", "")) for item in row.flags_seen or [])
    return Change(row.id, row.record_id, row.field, row.action, row.old, row.new, row.typed, row.reviewer,
                  _utc(row.at), row.note, seen)


def current_record(original: Record, changes: Sequence[Change]) -> Record:
    """The original record with its corrections applied in order, then re-verified.

    Rule flags are recomputed; a flag of another stage (the extractor's doubts, name
    matching) is dropped once every field it names has been reviewed: the doubt is settled.
    """
    record = original.model_copy(deep=True)
    corrections = [change for change in changes if change.action == "correct"]
    printed: dict[str, str] = {}
    for change in corrections:
        write_field(record, change.field, change.new)
        if change.typed:
            printed[change.field] = change.typed
    if corrections:
        record = apply_verification(record, printed)
    reviewed = {change.field for change in changes}
    record.flags = [flag for flag in record.flags
                    if flag.rule in RULES or not set(flag.fields or [RECORD_LEVEL]) <= reviewed]
    record.corrections = [*original.corrections,
                          *(Correction(field=change.field, old=change.old, new=change.new, by=change.reviewer,
                                       at=change.at, note=change.note) for change in corrections)]
    return record


def _changes_by_record(session: Session, record_ids: Iterable[int] | None = None) -> dict[int, list[Change]]:
    query = select(CorrectionRow).order_by(CorrectionRow.id)
    if record_ids is not None:
        query = query.where(CorrectionRow.record_id.in_(list(record_ids)))
    grouped: dict[int, list[Change]] = defaultdict(list)
    for row in session.scalars(query):
        grouped[row.record_id].append(_change(row))
    return grouped


_RECORD_QUERY = (select(RecordRow, DocumentRow.name, DocumentRow.id)
                 .join(TableRow, RecordRow.table_id == TableRow.id)
                 .join(DocumentRow, TableRow.document_id == DocumentRow.id))


def get_record(session: Session, record_id: int, *, for_update: bool = False) -> ReviewedRecord | None:
    query = _RECORD_QUERY.where(RecordRow.id == record_id)
    found = session.execute(query.with_for_update(of=RecordRow) if for_update else query).first()
    if found is None:
        return None
    row, doc, document_id = found
    return _reviewed(row, doc, document_id, _changes_by_record(session, [record_id]).get(record_id, []))


def _reviewed(row: RecordRow, doc: str, document_id: int, changes: list[Change]) -> ReviewedRecord:
    original = Record.model_validate(row.data)
    return ReviewedRecord(row.id, doc, document_id, current_record(original, changes), original, changes)


def iter_records(store: Store, batch: int = 200) -> Iterator[ReviewedRecord]:
    """Every stored record in document and table order, as a reader sees it."""
    with store.session() as session:
        changes = _changes_by_record(session)
        query = _RECORD_QUERY.order_by(DocumentRow.name, DocumentRow.id, TableRow.position)
        for row, doc, document_id in session.execute(query.execution_options(yield_per=batch)):
            yield _reviewed(row, doc, document_id, changes.get(row.id, []))


def all_changes(store: Store) -> list[tuple[Change, str, int | None, int | None]]:
    """The corrections log: every change, oldest first, with its document and table lines."""
    with store.session() as session:
        rows = session.execute(select(CorrectionRow, DocumentRow.name, TableRow.start_line, TableRow.end_line)
                               .join(RecordRow, CorrectionRow.record_id == RecordRow.id)
                               .join(TableRow).join(DocumentRow).order_by(CorrectionRow.id))
        return [(_change(row), name, start, end) for row, name, start, end in rows]


@dataclass(frozen=True)
class SourceLines:
    doc: str
    start_line: int
    end_line: int
    lines: list[tuple[int, str]]
    document_flags: list[dict[str, Any]] = field(default_factory=list)


def source_lines(session: Session, record_id: int, context: int = 3,
                 also: Iterable[int] = ()) -> SourceLines | None:
    """The table's lines of its document (1-based numbers), with a little context around."""
    row = session.get(RecordRow, record_id)
    if row is None:
        return None
    table, document = row.table, row.table.document
    lines = document.text.split("\n")
    start = table.start_line or 1
    end = table.end_line or len(lines)
    extra = [number for number in also if 1 <= number <= len(lines)]
    first = max(1, min([start - context, *extra]))
    last = min(len(lines), max([end + context, *extra]))
    return SourceLines(document.name, start, end, [(number, lines[number - 1]) for number in range(first, last + 1)],
                       list(document.flags or []))


# ---------------------------------------------------------------------------------------------- the queue


@dataclass(frozen=True)
class FieldFlag:
    rule: str
    severity: str
    message: str
    recomputed: bool
    position: int


@dataclass(frozen=True)
class QueueItem:
    """One flagged field of one record, and whether a reviewer has dealt with it."""

    record_id: int
    field: str
    status: Literal["pending", "accepted", "corrected"]
    severity: str
    flags: tuple[FieldFlag, ...]
    doc: str
    start_line: int | None
    label: str | None

    @property
    def key(self) -> tuple[int, str]:
        return self.record_id, self.field


def field_status(flags: Sequence[FieldFlag], changes: Sequence[Change]) -> Literal["pending", "accepted", "corrected"]:
    """Pending while a flag on the field waits for a reviewer.

    A rule flag waits unless the field's last change accepted it (a correction that leaves
    it standing does not end the wait: the numbers still disagree). Any change settles an
    extractor's doubt about the field.
    """
    last = changes[-1] if changes else None
    for flag in flags:
        if flag.recomputed:
            if not (last and last.action == "accept" and flag.rule in last.seen_rules):
                return "pending"
        elif not changes:
            return "pending"
    if last is None:
        return "pending"
    return "accepted" if last.action == "accept" else "corrected"


@dataclass
class Queue:
    items: list[QueueItem]

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def reviewed(self) -> int:
        return sum(item.status != "pending" for item in self.items)

    def index(self, key: tuple[int, str]) -> int | None:
        for position, item in enumerate(self.items):
            if item.key == key:
                return position
        return None

    def next_pending(self, after: tuple[int, str] | None = None) -> QueueItem | None:
        """The first pending item after ``after`` in queue order, wrapping round; never ``after`` itself."""
        start = self.index(after) if after is not None else None
        order = self.items if start is None else self.items[start + 1:] + self.items[:start]
        return next((item for item in order if item.status == "pending"), None)

    def previous(self, key: tuple[int, str]) -> QueueItem | None:
        position = self.index(key)
        return self.items[position - 1] if position else None


def build_queue(session: Session) -> Queue:
    """Every flagged or reviewed field, ordered by severity (errors first), then document and table."""
    flags_by_key: dict[tuple[int, str], list[FieldFlag]] = defaultdict(list)
    rows = session.execute(select(FlagFieldRow.record_id, FlagFieldRow.path, FlagRow.rule, FlagRow.severity,
                                  FlagRow.message, FlagRow.recomputed, FlagRow.position)
                           .join(FlagRow, FlagFieldRow.flag_id == FlagRow.id)
                           .order_by(FlagFieldRow.record_id, FlagRow.position))
    for record_id, path, rule, severity, message, recomputed, position in rows:
        flags_by_key[(record_id, path)].append(FieldFlag(rule, severity, message, recomputed, position))
    changes_by_key: dict[tuple[int, str], list[Change]] = defaultdict(list)
    for record_id, changes in _changes_by_record(session).items():
        for change in changes:
            changes_by_key[(record_id, change.field)].append(change)
    keys = set(flags_by_key) | set(changes_by_key)
    info = _record_info(session, {record_id for record_id, _path in keys})
    items: list[tuple[tuple[Any, ...], QueueItem]] = []
    for key in keys:
        flags, changes = flags_by_key.get(key, []), changes_by_key.get(key, [])
        doc, start, label = info[key[0]]
        severities = [flag.severity for flag in flags] or [severity for change in changes
                                                           for _rule, severity in change.flags_seen]
        severity = min(severities or ["warning"], key=lambda name: SEVERITY_RANK.get(name, 9))
        item = QueueItem(key[0], key[1], field_status(flags, changes), severity, tuple(flags), doc, start, label)
        first = min((flag.position for flag in flags), default=999)
        items.append(((SEVERITY_RANK.get(severity, 9), doc, start or 0, key[0], first, key[1]), item))
    items.sort(key=lambda pair: pair[0])
    return Queue([item for _order, item in items])


def _record_info(session: Session, record_ids: set[int]) -> dict[int, tuple[str, int | None, str | None]]:
    info: dict[int, tuple[str, int | None, str | None]] = {}
    ordered = sorted(record_ids)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start:start + 500]
        rows = session.execute(select(RecordRow.id, DocumentRow.name, TableRow.start_line, RecordRow.label)
                               .join(TableRow, RecordRow.table_id == TableRow.id)
                               .join(DocumentRow, TableRow.document_id == DocumentRow.id)
                               .where(RecordRow.id.in_(chunk)))
        info.update({record_id: (name, line, label) for record_id, name, line, label in rows})
    return info


# ---------------------------------------------------------------------------------------------- reviewing


@dataclass(frozen=True)
class ReviewOutcome:
    """What a saved change did to the record's flags (flags are told apart by rule and fields)."""

    action: Action
    old: Any
    new: Any
    cleared: list[Flag]
    appeared: list[Flag]
    record: Record


MAX_REVIEWER = 100
MAX_NOTE = 2000
MAX_VALUE = 20000


def review_field(store: Store, record_id: int, path: str, *, action: Action, reviewer: str,
                 typed: str | None = None, note: str | None = None, seen: Any = ...) -> ReviewOutcome:
    """Save a correction (``typed`` is the new value) or an acceptance of one field, then re-verify.

    ``seen`` is the value the reviewer was shown; if another change altered it meanwhile the
    save is refused. A "correction" to the value already there is saved as an acceptance.
    """
    reviewer = _clean_reviewer(reviewer)
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise ReviewInputError(f"the note is longer than {MAX_NOTE} characters")
    if action not in ("correct", "accept"):
        raise ReviewInputError(f"unknown action {action!r}")
    if typed is not None and len(typed) > MAX_VALUE:
        raise ReviewInputError(f"the value is longer than {MAX_VALUE} characters")
    with store.write_lock, store.session() as session, session.begin():
        current = get_record(session, record_id, for_update=True)
        if current is None:
            raise ReviewInputError(f"no record {record_id}")
        try:
            check_field(current.record, path, action)
        except PathError as error:
            raise ReviewInputError(str(error)) from None
        old = read_field(current.record, path)
        if seen is not ... and seen != old:
            raise ReviewInputError(f"{path} was changed by someone else meanwhile (now {old!r}); reload the page")
        new = old
        if action == "correct":
            new = parse_value(current.record, path, typed or "")
            if new == old:
                action = "accept"
        flags_seen = [{"rule": flag.rule, "severity": flag.severity} for flag in current.record.flags
                      if path in (flag.fields or [RECORD_LEVEL])]
        typed_text = (typed or "").strip() if action == "correct" else ""
        change_row = CorrectionRow(record_id=record_id, field=path, action=action, old=old, new=new,
                                   typed=typed_text or None,
                                   reviewer=reviewer, at=_now(), note=note, flags_seen=flags_seen)
        session.add(change_row)
        session.flush()
        changes = [*current.changes, _change(change_row)]
        updated = current_record(current.original, changes)
        _replace_flags(session, record_id, updated.flags)
        session.execute(update(RecordRow).where(RecordRow.id == record_id).values(label=_label(updated)))
        before, after = _flag_keys(current.record.flags), _flag_keys(updated.flags)
        return ReviewOutcome(action, old, new, [flag for key, flag in before.items() if key not in after],
                             [flag for key, flag in after.items() if key not in before], updated)


def _flag_keys(flags: Iterable[Flag]) -> dict[tuple[str, tuple[str, ...]], Flag]:
    return {(flag.rule, tuple(flag.fields)): flag for flag in flags}


def _clean_reviewer(reviewer: str) -> str:
    name = " ".join((reviewer or "").split())
    if not name:
        raise ReviewInputError("enter your name as reviewer: every change names who made it")
    if len(name) > MAX_REVIEWER or any(ord(char) < 32 for char in name):
        raise ReviewInputError(f"the reviewer name must be one line of at most {MAX_REVIEWER} characters")
    return name


def flag_status(flag: Flag, changes: Sequence[Change]) -> Literal["open", "accepted"]:
    """A flag is accepted when each field it names was last accepted with this flag on it."""
    for path in flag.fields or [RECORD_LEVEL]:
        mine = [change for change in changes if change.field == path]
        if not mine or mine[-1].action != "accept" or flag.rule not in mine[-1].seen_rules:
            return "open"
    return "accepted"


def store_counts(store: Store) -> dict[str, int]:
    """Row counts of the main tables (for summaries and tests)."""
    with store.session() as session:
        return {name: session.scalar(select(func.count()).select_from(model)) or 0
                for name, model in (("runs", RunRow), ("documents", DocumentRow), ("tables", TableRow),
                                    ("records", RecordRow), ("flags", FlagRow), ("corrections", CorrectionRow))}


__all__ = ["Change", "Queue", "QueueItem", "ReviewInputError", "ReviewOutcome", "ReviewedRecord", "RunPlan",
           "SourceLines", "Store", "StoreError", "all_changes", "build_queue", "check_field", "content_hash",
           "current_record", "finish_run", "flag_status", "get_record", "iter_records", "open_store",
           "parse_value", "read_field", "review_field", "save_document", "save_outcome", "source_lines",
           "start_run", "store_counts"]
