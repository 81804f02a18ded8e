"""A real OpenAI-compatible chat-completions server on 127.0.0.1 for tests and benchmarks.

It answers ``POST /v1/chat/completions`` from the gold record of the table it is sent
(found by the prompt's ``Source: <doc> lines <start>–<end>`` line, start ±3 lines), as a
tool call when the request carries ``tools`` and as JSON content otherwise (fenced when
no ``response_format`` asks for bare JSON, as ``md_json`` expects). Nothing leaves the
machine: it binds 127.0.0.1 only.

Switches (``Faults``) make it misbehave the way real endpoints do, so that re-asks,
fallbacks and flags are tested end to end through real HTTP:

- ``rate_limit``/``server_error``/``timeout``/``broken_json``/``schema_invalid``: the
  next N chat requests get a 429 with ``Retry-After``, a 500, no answer within the
  client's timeout, a truncated JSON answer, or an answer that breaks the schema
  (``reask_broken_json``: the next N re-asks get a truncated answer);
- ``wrong_rate``: the share of fields answered wrong, seeded per (seed, table, field)
  so that the same table gets the same wrong answer whatever the request order.
  Wrong values are perturbed numbers, invented numbers where the gold has none,
  garbled text, another field's value (swap), another category, a shifted date;
- ``latency``: seconds added to every answer;
- ``think``: JSON answers start with a ``<think>…</think>`` block, as reasoning models do;
- ``obey_injection``: the model "obeys" a table line that asks to set total_score.

A re-ask (a conversation that already holds an answer) is answered like a careful
model: the previous answer with every field named in backticks in the validation
message replaced by the gold value; other fields are left as they were.

Usage is reported as a server would (``prompt_tokens``, ``completion_tokens``),
estimated as one token per CJK character plus one per four other characters.

Run standalone (the benchmark does): ``python -m tests.support.llm_server --port 8765``.
Admin endpoints: ``GET /_stats``, ``POST /_faults`` (JSON of Faults fields), ``POST /_reset``.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import re
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from schemas.paths import PathError, get_path, iter_leaves, parse_path, set_path
from schemas.record import GoldRecord

ROOT = Path(__file__).resolve().parents[2]
GOLD_DIR = ROOT / "eval" / "gold"
ANSWER_EXCLUDED = {"format_version", "source", "template", "uncertain", "gold_notes"}
LEVEL1 = ["产出指标", "成本指标", "效益指标", "满意度指标"]
LEVEL2 = ["数量指标", "质量指标", "时效指标", "成本指标", "社会效益指标", "经济效益指标", "生态效益指标",
          "可持续影响指标", "服务对象满意度指标"]
_SOURCE = re.compile(r"Source:\s*(\S+)\s+lines\s+(\d+)\s*[–-]\s*(\d+)")
_NAMED_PATH = re.compile(r"`([A-Za-z_][\w]*(?:\[\d+\])?(?:\.[A-Za-z_]\w*(?:\[\d+\])?)*)`")
_NUMERIC_LEAF = re.compile(r"^(funds\.(planned|received|executed)\.\w+|funds\.(declared|initial|balance)|execution_\w+"
                           r"|total_score|eval_year|indicators\[\d+\]\.(weight|score)|category_scores\[\d+\]\.(weight|score))$")
_INJECTED_TOTAL = re.compile(r"total_score\D{0,12}?(\d+(?:\.\d+)?)")
_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


def estimate_tokens(text: str) -> int:
    """One token per CJK character, one per four other characters (an estimate, as documented)."""
    cjk = len(_CJK.findall(text))
    return cjk + math.ceil((len(text) - cjk) / 4)


@dataclass
class Faults:
    rate_limit: int = 0
    retry_after: float = 0.05
    server_error: int = 0
    error_retry_after: float | None = 0.02
    """Seconds the 500 answers tell the client to wait (None: no header, the client's own backoff)."""
    timeout: int = 0
    hang: float = 1.5
    broken_json: int = 0
    reask_broken_json: int = 0
    """Like broken_json, but only re-asks consume it (a model that breaks down when corrected)."""
    schema_invalid: int = 0
    wrong_rate: float = 0.0
    seed: int = 0
    latency: float = 0.0
    think: bool = False
    obey_injection: bool = False
    report_usage: bool = True


@dataclass
class Stats:
    requests: int = 0
    answered: int = 0
    reasks: int = 0
    status: Counter = field(default_factory=Counter)
    by_table: Counter = field(default_factory=Counter)
    events: list[tuple[float, int, str]] = field(default_factory=list)
    """(time answered, HTTP status, table) per chat request; status 0: left unanswered (timeout fault)."""
    arrivals: list[float] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = {str(key): value for key, value in self.status.items()}
        data["by_table"] = dict(self.by_table)
        return data


def load_gold(directory: Path = GOLD_DIR) -> list[GoldRecord]:
    records = []
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                records.append(GoldRecord.model_validate_json(line))
    return records


def gold_answer(record: GoldRecord) -> dict[str, Any]:
    return record.model_dump(mode="json", exclude=ANSWER_EXCLUDED)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    """Headers and body leave as separate writes; with Nagle on, each answer would wait ~40 ms for an ACK."""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        return

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        return json.loads(raw or b"{}")

    def send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        owner = self.server.owner
        if self.path.rstrip("/") == "/_stats":
            self.send(200, owner.stats_snapshot())
        elif self.path.rstrip("/").endswith("/models"):
            self.send(200, {"object": "list", "data": [{"id": "jixiao-test", "object": "model", "owned_by": "test"}]})
        else:
            self.send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:  # noqa: N802
        owner = self.server.owner
        try:
            body = self._body()
        except (ValueError, UnicodeDecodeError):
            self.send(400, {"error": {"message": "request body is not JSON", "type": "invalid_request_error"}})
            return
        route = self.path.split("?")[0].rstrip("/")
        if route.endswith("/chat/completions"):
            owner.chat(self, body)
        elif route == "/_faults":
            owner.set_faults(**body)
            self.send(200, asdict(owner.faults))
        elif route == "/_reset":
            owner.reset()
            self.send(200, {"ok": True})
        else:
            self.send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: LLMTestServer


class LLMTestServer:
    """Start with ``with LLMTestServer(...) as server:``; ``server.base_url`` is the OpenAI base URL."""

    def __init__(self, gold: list[GoldRecord] | None = None, faults: Faults | None = None, port: int = 0) -> None:
        self.gold = load_gold() if gold is None else gold
        self.faults = faults or Faults()
        self.stats = Stats()
        self._lock = threading.Lock()
        self._http = _Server(("127.0.0.1", port), _Handler)
        self._http.owner = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._http.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LLMTestServer:
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._http.server_close()

    def __enter__(self) -> LLMTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ control

    def set_faults(self, **changes: Any) -> None:
        known = {f.name for f in fields(Faults)}
        with self._lock:
            for key, value in changes.items():
                if key not in known:
                    raise ValueError(f"unknown fault switch {key!r}")
                setattr(self.faults, key, value)

    def reset(self) -> None:
        with self._lock:
            self.stats = Stats()

    def stats_snapshot(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self.stats.as_dict())

    def _take(self, name: str) -> bool:
        """Consume one of the next-N fault counters."""
        with self._lock:
            left = getattr(self.faults, name)
            if left > 0:
                setattr(self.faults, name, left - 1)
                return True
            return False

    def _event(self, status: int, note: str) -> None:
        with self._lock:
            self.stats.status[status] += 1
            self.stats.events.append((time.monotonic(), status, note))

    # ------------------------------------------------------------------ answering

    def find_gold(self, doc: str, start: int) -> GoldRecord | None:
        candidates = [g for g in self.gold if g.source.doc == doc and abs(g.source.start_line - start) <= 3]
        return min(candidates, key=lambda g: abs(g.source.start_line - start)) if candidates else None

    def chat(self, handler: _Handler, body: dict[str, Any]) -> None:
        with self._lock:
            self.stats.requests += 1
            self.stats.arrivals.append(time.monotonic())
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
        try:
            self._chat(handler, body)
        finally:
            with self._lock:
                self.stats.in_flight -= 1

    def _chat(self, handler: _Handler, body: dict[str, Any]) -> None:
        messages = body.get("messages") or []
        text = "\n".join(m.get("content") or "" for m in messages if isinstance(m.get("content"), str)
                         and m.get("role") in ("system", "user"))
        source = _SOURCE.search(text)
        table_key = f"{source.group(1)}:{source.group(2)}" if source else "?"
        with self._lock:
            self.stats.by_table[table_key] += 1
        faults = self.faults
        if self._take("rate_limit"):
            self._event(429, table_key)
            handler.send(429, {"error": {"message": "rate limited (test server)", "type": "rate_limit_error"}},
                         {"retry-after-ms": str(int(faults.retry_after * 1000)),
                          "retry-after": str(max(1, math.ceil(faults.retry_after)))})
            return
        if self._take("server_error"):
            self._event(500, table_key)
            headers = {} if faults.error_retry_after is None else {
                "retry-after-ms": str(int(faults.error_retry_after * 1000))}
            handler.send(500, {"error": {"message": "internal error (test server)", "type": "server_error"}}, headers)
            return
        if self._take("timeout"):
            self._event(0, table_key)
            time.sleep(faults.hang)
            handler.close_connection = True
            return
        if faults.latency:
            time.sleep(faults.latency)
        answer_text = self._answer_text(messages, source, text)
        completion = estimate_tokens(answer_text)
        prompt = estimate_tokens(json.dumps(body.get("messages"), ensure_ascii=False)
                                 + json.dumps(body.get("tools") or [], ensure_ascii=False))
        with self._lock:
            self.stats.answered += 1
            self.stats.prompt_tokens += prompt
            self.stats.completion_tokens += completion
        self._event(200, table_key)
        handler.send(200, self._completion(body, answer_text, prompt, completion))

    def _answer_text(self, messages: list[dict[str, Any]], source: re.Match[str] | None, text: str) -> str:
        gold = self.find_gold(source.group(1), int(source.group(2))) if source else None
        truth = gold_answer(gold) if gold is not None else {}
        previous = _previous_answer(messages)
        if previous is not None:
            with self._lock:
                self.stats.reasks += 1
            answer = _fixed(previous, _last_feedback(messages), truth)
        else:
            table = source.group(0) if source else "?"
            answer = corrupt(truth, self.faults.wrong_rate, f"{self.faults.seed}:{table}")
        if self.faults.obey_injection and (found := _INJECTED_TOTAL.search(text.rsplit("<table_text>", 1)[-1])):
            answer["total_score"] = float(found.group(1))
        if self._take("schema_invalid"):
            answer["total_score"] = "满分"
            answer["indicators"] = "see the table"
        rendered = json.dumps(answer, ensure_ascii=False)
        if self._take("broken_json") or (previous is not None and self._take("reask_broken_json")):
            rendered = rendered[: len(rendered) // 2]
        return rendered

    def _completion(self, body: dict[str, Any], answer: str, prompt: int, completion: int) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": None}
        finish = "stop"
        if body.get("tools"):
            name = body["tools"][0]["function"]["name"]
            message["tool_calls"] = [{"id": f"call_{self.stats.requests}", "type": "function",
                                      "function": {"name": name, "arguments": answer}}]
            finish = "tool_calls"
        else:
            bare = (body.get("response_format") or {}).get("type") in ("json_object", "json_schema")
            content = answer if bare else f"Here is the table:\n```json\n{answer}\n```"
            if self.faults.think:
                content = "<think>The table lists the project first, then funds; I copy values as printed.</think>\n" \
                          + content
            message["content"] = content
        payload: dict[str, Any] = {
            "id": f"chatcmpl-test-{self.stats.requests}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "jixiao-test"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        }
        if self.faults.report_usage:
            payload["usage"] = {"prompt_tokens": prompt, "completion_tokens": completion,
                                "total_tokens": prompt + completion}
        return payload


def _previous_answer(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last answer of this conversation (a re-ask), or None for a first request."""
    for message in reversed(messages):
        if message.get("role") != "assistant":
            continue
        calls = message.get("tool_calls") or []
        text = calls[0]["function"]["arguments"] if calls else (message.get("content") or "")
        start, end = text.find("{"), text.rfind("}")
        try:
            answer = json.loads(text[start:end + 1])
        except ValueError:
            return {}
        return answer if isinstance(answer, dict) else {}
    return None


def _last_feedback(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") in ("user", "tool") and isinstance(message.get("content"), str):
            return message["content"]
    return ""


def _fixed(previous: dict[str, Any], feedback: str, truth: dict[str, Any]) -> dict[str, Any]:
    """The previous answer with every field the feedback names set to the truth (a careful re-read)."""
    if not previous or not isinstance(previous.get("indicators", []), list):
        return copy.deepcopy(truth)
    answer = copy.deepcopy(previous)
    for path in set(_NAMED_PATH.findall(feedback)):
        try:
            right = get_path(truth, path)
        except PathError:
            continue
        try:
            set_path(answer, path, copy.deepcopy(right))
        except (PathError, TypeError):
            _ensure_parent(answer, path, right)
    return answer


def _ensure_parent(answer: dict[str, Any], path: str, value: Any) -> None:
    steps = parse_path(path)
    current: Any = answer
    for step, following in zip(steps, steps[1:], strict=False):
        if isinstance(step, int):
            return
        if not isinstance(current.get(step), (dict, list)):
            current[step] = {} if isinstance(following, str) else []
        current = current[step]
    if isinstance(current, dict) and isinstance(steps[-1], str):
        current[steps[-1]] = value


def corrupt(truth: dict[str, Any], rate: float, seed: str) -> dict[str, Any]:
    """The truth with a seeded share of fields made wrong, each in a way real models err."""
    answer = copy.deepcopy(truth)
    if rate <= 0:
        return answer
    leaves = [(path, value) for path, value in iter_leaves(truth)
              if not isinstance(value, (list, dict)) and (value is not None or _NUMERIC_LEAF.match(path))]
    numbers = [value for _, value in leaves if isinstance(value, (int, float)) and not isinstance(value, bool)]
    texts = [value for path, value in leaves if isinstance(value, str) and len(value) >= 2]
    for path, value in leaves:
        rng = random.Random(f"{seed}:{path}")
        if rng.random() >= rate:
            continue
        wrong = _wrong_value(path, value, rng, numbers, texts)
        if wrong is not None and wrong != value:
            try:
                set_path(answer, path, wrong)
            except PathError:
                _ensure_parent(answer, path, wrong)
    return answer


def _wrong_value(path: str, value: Any, rng: random.Random, numbers: list[Any], texts: list[str]) -> Any:
    if path.endswith(".level1"):
        return rng.choice([name for name in LEVEL1 if name != value])
    if path.endswith(".level2"):
        return rng.choice([name for name in LEVEL2 if name != value])
    if path == "grade":
        return rng.choice([grade for grade in "优良中差" if grade != value])
    if value is None:
        return round(rng.uniform(1, 500), 2)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        others = [number for number in numbers if number != value]
        if others and rng.random() < 0.25:
            return rng.choice(others)
        perturb = rng.choice([_shift_digit, lambda v, r: v * 10, lambda v, r: round(v + r.choice([1, 2, 5]), 2)])
        return perturb(value, rng)
    if path == "fill_date":
        return (_date_shift(value, rng.randint(1, 3)))
    text = str(value)
    others = [other for other in texts if other != text]
    if others and rng.random() < 0.25:
        return rng.choice(others)
    return _garble(text, rng)


def _shift_digit(value: float, rng: random.Random) -> float:
    text = repr(float(value)).rstrip("0").rstrip(".") if float(value) != int(value) else str(int(value))
    digits = [index for index, char in enumerate(text) if char.isdigit()]
    index = rng.choice(digits)
    replacement = str((int(text[index]) + rng.randint(1, 8)) % 10)
    changed = text[:index] + replacement + text[index + 1:]
    return float(changed) if "." in changed else int(changed)


def _date_shift(value: str, days: int) -> str:
    import datetime as dt

    return (dt.date.fromisoformat(value) + dt.timedelta(days=days)).isoformat()


def _garble(text: str, rng: random.Random) -> str:
    """Reworded text: a fifth of the characters replaced (at least one), as a paraphrasing model does."""
    chars = list(text)
    count = max(1, len(chars) // 5)
    for index in rng.sample(range(len(chars)), min(count, len(chars))):
        original = chars[index]
        if original.isdigit():
            chars[index] = str((int(original) + rng.randint(1, 9)) % 10)
        else:
            chars[index] = rng.choice([c for c in "甲乙丙丁戊某项量度率" if c != original])
    return "".join(chars)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--wrong-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    server = LLMTestServer(faults=Faults(latency=args.latency, wrong_rate=args.wrong_rate, seed=args.seed),
                           port=args.port)
    print(f"listening on {server.base_url}", flush=True)
    try:
        server._http.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    finally:
        server._http.server_close()


if __name__ == "__main__":
    main()
