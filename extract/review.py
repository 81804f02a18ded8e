"""The review page: a queue of flagged fields, each beside its table's source lines.

Server-rendered (FastAPI + Jinja2) with one small script for keyboard shortcuts. A
reviewer opens a flagged field, sees the rule's message, the value and the source
lines with the evidence line highlighted, and either types the right value or accepts
the printed one; the store re-verifies the record at once, so flags clear or appear on
the next page. Every change names its reviewer.

Document text is untrusted, so the page is built defensively: Jinja2 autoescaping on
every template, a Content-Security-Policy that allows only our own script and style
(no inline code runs even if something slipped through), a CSRF token on every POST,
an Origin check, and a Host check against DNS rebinding when bound to loopback. Field
paths from the browser are validated against the record schema by the store.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader
from starlette.middleware.trustedhost import TrustedHostMiddleware

from extract.store import (
    RECORD_LEVEL,
    Queue,
    QueueItem,
    ReviewedRecord,
    ReviewInputError,
    Store,
    build_queue,
    check_field,
    field_annotation,
    get_record,
    read_field,
    review_field,
    source_lines,
)
from schemas.paths import PathError
from schemas.record import Flag

HERE = Path(__file__).parent
LOOPBACK_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost", "::1", "[::1]")
REVIEWER_COOKIE = "jixiao_reviewer"
LONG_TEXT_FIELDS = ("goals.", "narrative.")
QUEUE_PAGE_LIMIT = 1000
_RULE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _environment() -> Environment:
    environment = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True,
                              trim_blocks=True, lstrip_blocks=True)
    environment.filters["shown"] = shown_value
    environment.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False)
    return environment


def shown_value(value: Any) -> str:
    """A field value as text for the page and the input box: null is empty, 8.0 is 8."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def create_app(store: Store, *, default_reviewer: str | None = None,
               allowed_hosts: Sequence[str] | None = LOOPBACK_HOSTS) -> FastAPI:
    """The review application over an open store; ``allowed_hosts=None`` accepts any Host header."""
    app = FastAPI(title="jixiao review", docs_url=None, redoc_url=None, openapi_url=None)
    environment = _environment()
    csrf_token = secrets.token_urlsafe(32)
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts), www_redirect=False)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = environment.get_template(name).render(csrf_token=csrf_token, **context)
        return HTMLResponse(html, status_code=status)

    def reviewer_of(request: Request) -> str:
        return unquote(request.cookies.get(REVIEWER_COOKIE, "")) or default_reviewer or ""

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/", response_class=HTMLResponse)
    def queue_page(show: str = "pending") -> HTMLResponse:
        with store.session() as session:
            queue = build_queue(session)
        shown = [item for item in queue.items if show == "all" or item.status == "pending"]
        return page("queue.html", queue=queue, items=shown[:QUEUE_PAGE_LIMIT], hidden=max(0, len(shown) - QUEUE_PAGE_LIMIT),
                    show="all" if show == "all" else "pending", item_url=item_url)

    @app.get("/next")
    def next_item() -> Response:
        with store.session() as session:
            item = build_queue(session).next_pending()
        return RedirectResponse(item_url(item) if item else "/?show=all", status_code=303)

    @app.get("/item", response_class=HTMLResponse)
    def item_page(request: Request, record: int, field: str = RECORD_LEVEL, done: str = "",
                  cleared: str = "", appeared: str = "") -> HTMLResponse:
        banner = {"done": done if done in ("correct", "accept") else "",
                  "cleared": _rule_ids(cleared), "appeared": _rule_ids(appeared)}
        return render_item(record, field, reviewer=reviewer_of(request), banner=banner)

    def render_item(record_id: int, path: str, *, reviewer: str, banner: dict[str, Any] | None = None,
                    error: str | None = None, typed: str | None = None, note: str = "") -> HTMLResponse:
        with store.session() as session:
            queue = build_queue(session)
            item = next((entry for entry in queue.items if entry.key == (record_id, path)), None)
            reviewed = get_record(session, record_id) if item is not None else None
            if item is None or reviewed is None:
                return page("message.html", 400 if error else 404, title="Not in the queue",
                            message=error or f"record {record_id} has no flagged field {path or '(record)'!r}")
            context = _item_context(session, queue, item, reviewed)
        return page("item.html", 400 if error else 200, reviewer=reviewer, banner=banner or {}, error=error,
                    typed=context["value_text"] if typed is None else typed, note=note, **context)

    @app.post("/item", response_model=None)
    def save(request: Request, record: int = Form(), field: str = Form(""), action: str = Form(),
             csrf: str = Form(""), value: str = Form(""), note: str = Form(""), reviewer: str = Form(""),
             seen: str = Form("")) -> Response:
        if not hmac.compare_digest(csrf.encode(), csrf_token.encode()) or not _same_origin(request):
            return page("message.html", 403, title="Refused",
                        message="the form's security token is missing or wrong; reload the page and try again")
        try:
            shown = json.loads(seen) if seen else ...
        except json.JSONDecodeError:
            shown = ...
        try:
            outcome = review_field(store, record, field, action="accept" if action == "accept" else "correct",
                                   reviewer=reviewer, typed=value, note=note, seen=shown)
        except ReviewInputError as problem:
            return render_item(record, field, reviewer=reviewer, error=str(problem), typed=value, note=note)
        query = urlencode({"record": record, "field": field, "done": outcome.action,
                           "cleared": ",".join(dict.fromkeys(flag.rule for flag in outcome.cleared)),
                           "appeared": ",".join(dict.fromkeys(flag.rule for flag in outcome.appeared))})
        response = RedirectResponse(f"/item?{query}", status_code=303)
        response.set_cookie(REVIEWER_COOKIE, quote(" ".join(reviewer.split())), max_age=365 * 24 * 3600,
                            httponly=True, samesite="strict")
        return response

    return app


def item_url(item: QueueItem) -> str:
    return "/item?" + urlencode({"record": item.record_id, "field": item.field})


def _rule_ids(text: str) -> list[str]:
    return [rule for rule in text.split(",") if _RULE_ID.match(rule)][:20]


def _same_origin(request: Request) -> bool:
    """A POST's Origin, when the browser sends one, must be this server (the CSRF token is the main guard)."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


def _item_context(session: Any, queue: Queue, item: QueueItem, reviewed: ReviewedRecord) -> dict[str, Any]:
    record = reviewed.record
    path = item.field
    flags = [flag for flag in record.flags if path in (flag.fields or [RECORD_LEVEL])]
    evidence_line = _evidence_line(reviewed, path)
    related = {line for flag in flags for other in flag.fields if other != path
               for line in [_evidence_line(reviewed, other)] if line}
    related.discard(evidence_line)
    lines = source_lines(session, reviewed.id, also=[line for line in (evidence_line, *related) if line])
    editable, why_not = _editable(record, path)
    value = read_field(record, path)
    original = read_field(reviewed.original, path)
    position = queue.index(item.key) or 0
    next_item, previous = queue.next_pending(item.key), queue.previous(item.key)
    siblings = [entry for entry in queue.items if entry.record_id == item.record_id and entry.key != item.key]
    return {
        "item": item, "record": record, "reviewed": reviewed, "path": path, "flags": flags,
        "value": value, "value_text": shown_value(value), "original": original,
        "corrected": any(change.action == "correct" for change in reviewed.changes_of(path)),
        "history": reviewed.changes_of(path), "editable": editable, "why_not": why_not,
        "multiline": path.startswith(LONG_TEXT_FIELDS) or path.endswith(".note") or len(shown_value(value)) > 60,
        "hint": _hint(path), "lines": lines, "evidence_line": evidence_line, "related_lines": related,
        "queue": queue, "position": position + 1, "next_url": item_url(next_item) if next_item else None,
        "previous_url": item_url(previous) if previous else None, "siblings": siblings, "item_url": item_url,
        "flag_values": _flag_values,
    }


def _editable(record: Any, path: str) -> tuple[bool, str]:
    try:
        check_field(record, path, "correct")
    except PathError as error:
        return False, str(error)
    return True, ""


def _hint(path: str) -> str:
    """What the input expects, from the field's type in the schema."""
    try:
        annotation = field_annotation(path)
    except PathError:
        return ""
    name = getattr(annotation, "__name__", str(annotation))
    if name == "float":
        return "a number, e.g. 30.01 (empty for none)"
    if name == "int":
        return "a whole number (empty for none)"
    if name == "date":
        return "a date, YYYY-MM-DD (empty for none)"
    if "Literal" in str(annotation):
        options = "/".join(str(option) for option in getattr(annotation, "__args__", ()))
        return f"one of {options} (empty for none)"
    return "text as printed (empty for none)"


def _evidence_line(reviewed: ReviewedRecord, path: str) -> int | None:
    """The line a field was read from; else that of its nearest relative (a child, the same indicator, the block)."""
    evidence = reviewed.record.evidence
    if path in evidence:
        return evidence[path].line
    prefix = path
    while prefix:
        for key in sorted(evidence):
            if key.startswith((prefix + ".", prefix + "[")):
                return evidence[key].line
        cut = max(prefix.rfind("."), prefix.rfind("["))
        prefix = prefix[:cut] if cut > 0 else ""
    return None


def _flag_values(flag: Flag) -> list[tuple[str, str]]:
    return [(key, shown_value(value)) for key, value in flag.values.items()]
