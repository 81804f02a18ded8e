"""The command line with the LLM backends: backend choice, options, the usage summary, llm-check."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from support.llm_server import Faults, LLMTestServer
from typer.testing import CliRunner

from extract.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOC_000 = ROOT / "eval" / "docs" / "000_cc1de7d507d20929.txt"
runner = CliRunner()


@pytest.fixture(scope="module")
def server():
    with LLMTestServer() as running:
        yield running


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: LLMTestServer):
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "JIXIAO_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("JIXIAO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    server.set_faults(**dataclasses.asdict(Faults()))
    server.reset()


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_auto_is_rules_without_an_endpoint(tmp_path: Path, server: LLMTestServer) -> None:
    result = runner.invoke(app, ["extract", str(DOC_000), "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 0, result.output
    assert _records(tmp_path / "out.jsonl")[0]["extractor"]["backend"] == "rules"
    assert server.stats.requests == 0 and "LLM" not in result.stderr


def test_auto_is_hybrid_with_an_endpoint_and_the_summary_counts_tokens(tmp_path: Path, server: LLMTestServer,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["extract", str(DOC_000), "-o", str(out), "--llm-all", "--concurrency", "2"])
    assert result.exit_code == 0, result.output
    record = _records(out)[0]
    assert record["extractor"]["backend"] == "hybrid" and record["extractor"]["prompt_version"] == "city-project/1"
    assert server.stats.requests == 1
    stats = server.stats_snapshot()
    assert f"{stats['prompt_tokens']} prompt + {stats['completion_tokens']} completion" in result.stderr
    assert "000_cc1de7d507d20929.txt:517  ok, 1 calls" in result.stderr
    again = runner.invoke(app, ["extract", str(DOC_000), "-o", str(out), "--llm-all"])
    assert again.exit_code == 0 and server.stats.requests == 1 and "1 cached" in again.stderr


def test_options_override_the_environment(tmp_path: Path, server: LLMTestServer) -> None:
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["extract", str(DOC_000), "-o", str(out), "--backend", "llm", "--base-url",
                                 server.base_url, "--model", "local-model", "--cache-dir", str(tmp_path / "c2")])
    assert result.exit_code == 0, result.output
    assert _records(out)[0]["extractor"]["model"] == "local-model"
    assert (tmp_path / "c2").is_dir()


def test_the_budget_option_stops_the_run(tmp_path: Path, server: LLMTestServer) -> None:
    result = runner.invoke(app, ["extract", str(ROOT / "eval" / "docs" / "002_df651f07c846b8e4.txt"), "-o",
                                 str(tmp_path / "o.jsonl"), "--backend", "llm", "--base-url", server.base_url,
                                 "--max-tokens-total", "1", "--concurrency", "1"])
    assert result.exit_code == 0, result.output
    assert server.stats.requests == 1 and "16 not sent (token budget spent)" in result.stderr


@pytest.mark.parametrize("arguments, message", [
    (["--backend", "llm"], "needs an LLM endpoint"),
    (["--backend", "gpt"], "unknown backend"),
])
def test_bad_backend_choices_are_one_line_errors(tmp_path: Path, arguments: list[str], message: str) -> None:
    result = runner.invoke(app, ["extract", str(DOC_000), "-o", str(tmp_path / "o.jsonl"), *arguments])
    assert result.exit_code == 2 and message in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_llm_check_never_shows_the_key(monkeypatch: pytest.MonkeyPatch, server: LLMTestServer) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    result = runner.invoke(app, ["llm-check", "--base-url", server.base_url, "--ping"])
    assert result.exit_code == 0, result.output
    assert "sk-very-secret" not in result.output and "api_key: set" in result.output
    assert "ping ok" in result.output and server.stats.requests == 1


def test_llm_check_reports_a_dead_endpoint(server: LLMTestServer) -> None:
    server.set_faults(server_error=10, error_retry_after=0.01)
    result = runner.invoke(app, ["llm-check", "--base-url", server.base_url, "--ping"])
    assert result.exit_code == 1 and "ping failed" in result.output and "HTTP 500" in result.output
