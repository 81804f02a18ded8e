"""Running many tables: bounded concurrency, the disk cache, a token budget and usage totals.

An ``LLMSession`` lives for one command (one ``jixiao extract`` run, one benchmark run)
and may run several batches; it owns the settings, the cache and the usage ledger,
and opens a fresh ``LLMClient`` inside each batch's event loop. Within a batch
(``session.batch()``), requests are submitted while earlier ones are in flight and
``concurrency`` workers serve them, largest expected work first (``Batch``). ``ask_all``
and ``run`` are the synchronous entry points; they work from inside a running event
loop too (the batch then runs on a worker thread).

The budget (``max_tokens_total``) is checked before each table is sent: once the
tokens reported so far reach it, the remaining tables are not sent (status
``budget``), and each call's re-asks stop once its share is spent (instructor's
``token_budget``). Calls already in flight finish, so a run can overshoot the budget
by at most what ``concurrency`` calls use.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from extract.llm.cache import AnswerCache, cache_key
from extract.llm.client import CallResult, LLMClient, RateGate, Usage
from extract.llm.prompting import Prompt, load_template
from extract.llm.response import AnswerCheck, Problem, TableAnswer, schema_fingerprint
from extract.llm.settings import LLMSettings, load_settings

Progress = Callable[[int, int], None]
T = TypeVar("T")


@dataclass(frozen=True)
class TableRequest:
    """One table to ask about; ``check`` None asks without table checks (the naive baseline)."""

    prompt: Prompt
    check: AnswerCheck | None

    @property
    def doc(self) -> str:
        return self.prompt.table.doc

    @property
    def expected_work(self) -> tuple[int, int]:
        """(fields the check watches, table size): a proxy for how many calls the table will take."""
        watched = 10**6 if self.check is not None and self.check.focus is None else \
            len(self.check.focus) if self.check is not None and self.check.focus else 0
        return watched, len(self.prompt.table.render())

    @property
    def start_line(self) -> int:
        return self.prompt.table.start_line


@dataclass
class TableUsage:
    """One table's line in the usage report."""

    doc: str
    start_line: int
    status: str
    """ok | unconfirmed | failed | cached | budget"""
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None


@dataclass
class TableReply:
    request: TableRequest
    status: str
    answer: TableAnswer | None = None  # type: ignore[valid-type]
    problems: list[Problem] = field(default_factory=list)
    error: str | None = None


@dataclass
class UsageTotals:
    tables: int = 0
    calls: int = 0
    requests: int = 0
    """HTTP requests sent, transport retries included."""
    cached: int = 0
    failed: int = 0
    skipped_for_budget: int = 0
    rate_limit_waits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage_complete: bool = True

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class LLMSession:
    """Settings, cache and usage ledger of one run; see the module docstring."""

    def __init__(self, settings: LLMSettings, *, llm_all: bool = False, progress: Progress | None = None) -> None:
        self.settings = settings
        self.llm_all = llm_all
        self.progress = progress
        self.cache = None if settings.no_cache else AnswerCache(settings.cache_dir)
        self.tables: list[TableUsage] = []
        self.totals = UsageTotals()

    @classmethod
    def from_environment(cls, **overrides: object) -> LLMSession:
        return cls(load_settings(**overrides))  # type: ignore[arg-type]

    @property
    def budget_left(self) -> int | None:
        if self.settings.max_tokens_total is None:
            return None
        return self.settings.max_tokens_total - self.totals.total_tokens

    def run(self, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run a coroutine to completion from synchronous code, also from inside a running event loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(work())
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, work()).result()

    def ask_all(self, requests: Sequence[TableRequest]) -> list[TableReply]:
        """Ask about every table (concurrently, cache first); replies come back in request order."""
        if not requests:
            return []
        return self.run(lambda: self.ask_all_async(requests))

    async def ask_all_async(self, requests: Sequence[TableRequest]) -> list[TableReply]:
        async with self.batch() as batch:
            futures = [batch.submit(request) for request in requests]
            return [await future for future in futures]

    @contextlib.asynccontextmanager
    async def batch(self) -> AsyncIterator[Batch]:
        """A client and ``concurrency`` workers for this event loop; submit requests while it is open."""
        gate = RateGate()
        async with LLMClient(self.settings, gate) as client:
            batch = Batch(self, client)
            try:
                yield batch
            except BaseException:
                batch.cancel()
                raise
            else:
                await batch.close()
            finally:
                self.totals.requests += client.requests
                self.totals.rate_limit_waits += gate.holds

    def _key(self, request: TableRequest) -> str:
        template = load_template(request.prompt.table.template)
        check = request.check
        checks = "none" if check is None else "all" if check.focus is None else "focus:" + ",".join(sorted(check.focus))
        return cache_key(model=self.settings.model_name, prompt_version=request.prompt.version,
                         template_digest=template.digest, schema=schema_fingerprint(),
                         table_text=request.prompt.table.render(), checks=checks)

    async def _ask(self, client: LLMClient, request: TableRequest) -> TableReply:
        usage = TableUsage(request.doc, request.start_line, "ok")
        self.tables.append(usage)
        self.totals.tables += 1
        key = self._key(request)
        cached = self.cache.get(key) if self.cache is not None else None
        if cached is not None:
            reply = _from_cache(request, cached)
            if reply is not None:
                usage.status = "cached"
                self.totals.cached += 1
                return reply
        left = self.budget_left
        if left is not None and left <= 0:
            usage.status = "budget"
            self.totals.skipped_for_budget += 1
            return TableReply(request, "budget", error="the token budget (--max-tokens-total) was spent "
                                                       "before this table was sent")
        result = await client.extract(request.prompt, request.check, token_budget=left)
        self._account(usage, result)
        reply = TableReply(request, result.status, result.answer, result.problems, result.error)
        if result.answer is not None and self.cache is not None:
            self.cache.put(key, _cache_entry(result, self.settings.model_name, request.prompt.version))
        return reply

    def _account(self, usage: TableUsage, result: CallResult) -> None:
        usage.status = result.status
        usage.calls = result.attempts
        usage.prompt_tokens = result.usage.prompt_tokens
        usage.completion_tokens = result.usage.completion_tokens
        usage.error = result.error
        self.totals.calls += result.attempts
        self.totals.prompt_tokens += result.usage.prompt_tokens
        self.totals.completion_tokens += result.usage.completion_tokens
        self.totals.usage_complete = self.totals.usage_complete and result.usage.reported
        self.totals.failed += result.status == "failed"


class Batch:
    """Pending requests in a priority queue, served by ``concurrency`` workers sharing one client.

    Requests can be submitted while earlier ones are in flight (the pipeline prepares the next
    tables meanwhile). Workers take the pending request with the most expected work first
    (longest-processing-time scheduling): the tables whose answers the checks watch most closely
    and the largest ones are the likeliest to need re-asks, and starting them last would leave a
    long tail of sequential calls at the end of the batch.
    """

    def __init__(self, session: LLMSession, client: LLMClient) -> None:
        self.session = session
        self.client = client
        self.queue: asyncio.PriorityQueue[tuple[Any, ...]] = asyncio.PriorityQueue()
        self.submitted = 0
        self.done = 0
        self.workers = [asyncio.ensure_future(self._work()) for _ in range(session.settings.concurrency)]

    def submit(self, request: TableRequest) -> asyncio.Future[TableReply]:
        future: asyncio.Future[TableReply] = asyncio.get_running_loop().create_future()
        watched, size = request.expected_work
        self.submitted += 1
        self.queue.put_nowait((0, -watched, -size, self.submitted, request, future))
        return future

    async def _work(self) -> None:
        while True:
            stop, _, _, _, request, future = await self.queue.get()
            if stop:
                return
            try:
                reply = await self.session._ask(self.client, request)
            except Exception as error:  # noqa: BLE001 - one table's failure is its reply, never the batch's
                reply = TableReply(request, "failed", error=f"{type(error).__name__}: {error}")
            if not future.done():
                future.set_result(reply)
            self.done += 1
            if self.session.progress is not None:
                self.session.progress(self.done, self.submitted)

    async def close(self) -> None:
        """Serve everything submitted, then stop the workers."""
        for index in range(len(self.workers)):
            self.queue.put_nowait((1, 0, 0, index, None, None))
        await asyncio.gather(*self.workers, return_exceptions=True)

    def cancel(self) -> None:
        for worker in self.workers:
            worker.cancel()


def _cache_entry(result: CallResult, model: str, prompt_version: str) -> dict[str, object]:
    assert result.answer is not None
    return {"answer": result.answer.model_dump(mode="json"), "status": result.status,
            "problems": [{"fields": list(p.fields), "message": p.message, "kind": p.kind} for p in result.problems],
            "error": result.error, "attempts": result.attempts,
            "usage": {"prompt_tokens": result.usage.prompt_tokens, "completion_tokens": result.usage.completion_tokens},
            "model": model, "prompt_version": prompt_version,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def _from_cache(request: TableRequest, entry: dict[str, Any]) -> TableReply | None:
    try:
        answer = TableAnswer.model_validate(entry["answer"])
    except ValueError:
        return None
    problems = [Problem(("cached", index), tuple(p.get("fields", ())), str(p.get("message", "")),
                        str(p.get("kind", "")))
                for index, p in enumerate(entry.get("problems") or [])]
    error = entry.get("error")
    return TableReply(request, str(entry.get("status", "ok")), answer, problems, str(error) if error else None)


def usage_summary(totals: UsageTotals, settings: LLMSettings) -> str:
    """One line for the run's summary."""
    parts = [f"LLM {settings.model_name}: {totals.tables} tables, {totals.calls} calls",
             f"{totals.cached} cached"]
    if totals.failed:
        parts.append(f"{totals.failed} failed")
    if totals.skipped_for_budget:
        parts.append(f"{totals.skipped_for_budget} not sent (token budget spent)")
    tokens = (f"tokens: {totals.prompt_tokens} prompt + {totals.completion_tokens} completion = "
              f"{totals.total_tokens}")
    if not totals.usage_complete:
        tokens += " (the server did not report usage for every call; a lower bound"
        tokens += ", so the budget could not be enforced on those calls)" if settings.max_tokens_total else ")"
    if settings.max_tokens_total:
        tokens += f" of a {settings.max_tokens_total} budget"
    return ", ".join(parts) + "; " + tokens


__all__ = ["LLMSession", "TableRequest", "TableReply", "TableUsage", "UsageTotals", "Usage", "usage_summary"]
