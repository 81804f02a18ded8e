"""The one module that talks to the LLM (``openai`` + ``instructor``); nothing else imports them.

One ``LLMClient`` lives for one asynchronous run. It asks for a ``TableAnswer`` with
instructor (tools, json or md_json mode), lets instructor re-ask when the answer fails
the table checks, and turns every outcome into a ``CallResult``: the answer, the
tokens the server reported (summed over attempts), how many attempts were made, and,
when the checks never passed, the best answer seen with the problems it still has.

Transport faults are the openai client's job: it retries 429, 5xx, timeouts and lost
connections ``settings.retries`` times with exponential backoff, honouring
``Retry-After`` / ``retry-after-ms``. On top, a ``RateGate`` shared by all requests of
the run makes every *other* request wait out a 429's Retry-After too, so a rate limit
slows the whole run down instead of being hammered by the other workers.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from dataclasses import dataclass, field
from typing import Any

import httpx2
import instructor
import openai
from instructor.core.exceptions import (
    IncompleteOutputException,
    InstructorRetryException,
)
from instructor.core.hooks import Hooks

from extract.llm.prompting import Prompt
from extract.llm.response import (
    CHECK_KEY,
    AnswerBase,
    AnswerCheck,
    Problem,
    TableAnswer,
    parse_leniently,
)
from extract.llm.settings import LLMSettings

MODES = {"tools": instructor.Mode.TOOLS, "json": instructor.Mode.JSON, "md_json": instructor.Mode.MD_JSON}
RESPONSE_MODEL = instructor.response_schema(TableAnswer)
"""Wrapped once: instructor would otherwise wrap (and regenerate the JSON schema of) the model on every call."""
NO_KEY = "not-needed"
"""Sent as the key to a configured base URL without one (local servers ignore it)."""


class LLMUnavailable(RuntimeError):
    """The LLM cannot be used at all (no endpoint or key); one line for the user."""


class RateGate:
    """A shared pause: after a 429 with Retry-After, no request of the run starts until it has passed."""

    def __init__(self) -> None:
        self._until = 0.0
        self.holds = 0

    def hold(self, seconds: float) -> None:
        if seconds > 0:
            self.holds += 1
            self._until = max(self._until, time.monotonic() + seconds)

    async def wait(self) -> None:
        while (delay := self._until - time.monotonic()) > 0:
            await asyncio.sleep(delay)


def retry_after_seconds(headers: Any) -> float | None:
    """The server's requested wait: ``retry-after-ms``, else ``retry-after`` as seconds or an HTTP date."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return float(milliseconds) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        return email.utils.mktime_tz(parsed) - time.time() if parsed else None


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reported: bool = True
    """False when the server gave no usage for some attempt (the totals are then a lower bound)."""

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.reported = self.reported and other.reported


@dataclass
class CallResult:
    """What one table's call produced. ``status``: ok | unconfirmed (best answer kept) | failed."""

    status: str
    answer: AnswerBase | None = None
    attempts: int = 0
    usage: Usage = field(default_factory=Usage)
    problems: list[Problem] = field(default_factory=list)
    error: str | None = None


def _usage_of(raw: Any) -> Usage:
    if raw is None:
        return Usage(reported=False)
    prompt = getattr(raw, "prompt_tokens", None)
    completion = getattr(raw, "completion_tokens", None)
    if prompt is None and completion is None:
        return Usage(reported=False)
    return Usage(int(prompt or 0), int(completion or 0))


def _raw_text(completion: Any) -> str | None:
    """The answer text of a chat completion: the tool call's arguments, else the content."""
    try:
        message = completion.choices[0].message
    except (AttributeError, IndexError, TypeError):
        return None
    calls = getattr(message, "tool_calls", None) or []
    if calls:
        return calls[0].function.arguments
    return getattr(message, "content", None)


def describe_error(error: BaseException) -> str:
    """One line for a failed call, naming the transport fault or the last validation error."""
    cause = error.__cause__ if isinstance(error, InstructorRetryException) and error.__cause__ else error
    if isinstance(cause, openai.APITimeoutError):
        return "the LLM did not answer within the timeout (retries exhausted)"
    if isinstance(cause, openai.APIConnectionError):
        return f"cannot reach the LLM endpoint ({type(cause).__name__})"
    if isinstance(cause, openai.APIStatusError):
        return f"the LLM endpoint answered HTTP {cause.status_code} (retries exhausted)"
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}".strip(": ")


class LLMClient:
    """Async instructor client for one run; use ``async with LLMClient(settings) as client``."""

    def __init__(self, settings: LLMSettings, gate: RateGate | None = None) -> None:
        if settings.base_url is None and settings.api_key is None:
            raise LLMUnavailable("no LLM endpoint configured: set OPENAI_BASE_URL (a local server) or "
                                 "OPENAI_API_KEY and JIXIAO_MODEL, or pass --base-url")
        self.settings = settings
        self.gate = gate or RateGate()
        self._http = openai.DefaultAsyncHttpxClient(event_hooks={"request": [self._before_request],
                                                                 "response": [self._after_response]})
        key = settings.api_key.get_secret_value() if settings.api_key is not None else NO_KEY
        self._openai = openai.AsyncOpenAI(api_key=key, base_url=settings.base_url, timeout=settings.timeout,
                                          max_retries=settings.retries, http_client=self._http)
        self._instructor = instructor.from_openai(self._openai, mode=MODES[settings.mode])
        self.requests = 0

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._openai.close()

    async def _before_request(self, request: httpx2.Request) -> None:
        await self.gate.wait()
        self.requests += 1

    async def _after_response(self, response: httpx2.Response) -> None:
        if response.status_code == 429:
            seconds = retry_after_seconds(response.headers)
            self.gate.hold(seconds if seconds is not None else 1.0)

    async def extract(self, prompt: Prompt, check: AnswerCheck | None, *, max_reasks: int | None = None,
                      token_budget: int | None = None) -> CallResult:
        """Ask for one table's answer; ``check`` None means no table checks (the naive baseline)."""
        attempts: list[int] = []
        hooks = Hooks()
        hooks.on("completion:kwargs", lambda *args, **kwargs: attempts.append(1))
        options: dict[str, Any] = {"model": self.settings.model_name, "temperature": self.settings.temperature}
        if self.settings.max_tokens:
            options["max_tokens"] = self.settings.max_tokens
        reasks = self.settings.max_reasks if max_reasks is None else max_reasks
        try:
            answer, completion = await self._instructor.create_with_completion(
                messages=prompt.as_messages(),  # type: ignore[arg-type]  # plain role/content dicts
                response_model=RESPONSE_MODEL, max_retries=reasks,
                context={CHECK_KEY: check} if check is not None else None, strict=False, hooks=hooks,
                token_budget=token_budget if check is not None else None, **options)
        except IncompleteOutputException as error:
            return CallResult("failed", attempts=len(attempts), usage=_usage_of(None),
                              error=f"the answer was cut off at the token limit ({describe_error(error)})")
        except InstructorRetryException as error:
            return self._best_effort(error, check, len(attempts))
        except openai.OpenAIError as error:
            return CallResult("failed", attempts=len(attempts), usage=Usage(reported=False),
                              error=describe_error(error))
        usage = _usage_of(getattr(answer, "_total_usage", None) or getattr(completion, "usage", None))
        return CallResult("ok", answer, attempts=len(attempts), usage=usage)

    def _best_effort(self, error: InstructorRetryException, check: AnswerCheck | None, attempts: int) -> CallResult:
        """After the last attempt: the answer with the fewest remaining problems, if any parsed."""
        usage = _usage_of(getattr(error, "total_usage", None))
        best: tuple[int, AnswerBase, list[Problem]] | None = None
        for failed in getattr(error, "failed_attempts", None) or []:
            text = _raw_text(failed.completion)
            answer = parse_leniently(text) if text else None
            if answer is None:
                continue
            problems = check.problems(answer) if check is not None else []
            if best is None or len(problems) < best[0]:
                best = (len(problems), answer, problems)
        if best is None:
            return CallResult("failed", attempts=max(attempts, getattr(error, "n_attempts", 0) or 0), usage=usage,
                              error=describe_error(error))
        return CallResult("unconfirmed", best[1], attempts=attempts, usage=usage, problems=best[2],
                          error=describe_error(error))
