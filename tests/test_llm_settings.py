"""LLM settings: arguments over environment over config file over defaults; the key is never shown."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from extract.llm.settings import (
    LLMSettings,
    SettingsError,
    load_settings,
    resolve_backend,
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "JIXIAO_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def test_defaults_configure_no_endpoint() -> None:
    settings = load_settings()
    assert settings.base_url is None and settings.mode == "tools" and not settings.endpoint_configured
    assert resolve_backend("auto", settings) == "rules"


def test_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    monkeypatch.setenv("JIXIAO_MODEL", "qwen2.5")
    monkeypatch.setenv("JIXIAO_MODE", "md_json")
    monkeypatch.setenv("JIXIAO_CONCURRENCY", "3")
    settings = load_settings()
    assert (settings.base_url, settings.model, settings.mode, settings.concurrency) == \
        ("http://127.0.0.1:9/v1", "qwen2.5", "md_json", 3)
    assert settings.api_key.get_secret_value() == "sk-secret-value"
    assert resolve_backend("auto", settings) == "hybrid"
    assert "sk-secret-value" not in repr(settings) + str(settings.describe())


def test_a_key_alone_does_not_make_hybrid_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-for-another-tool")
    assert resolve_backend("auto", load_settings()) == "rules"
    monkeypatch.setenv("JIXIAO_MODEL", "gpt-4o-mini")
    assert resolve_backend("auto", load_settings()) == "hybrid"


def test_precedence_arguments_environment_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "jixiao.toml"
    config.write_text('[llm]\nmodel = "from-file"\nconcurrency = 2\ntimeout = 30\n', encoding="utf-8")
    assert load_settings().model == "from-file", "./jixiao.toml is found by default"
    monkeypatch.setenv("JIXIAO_CONCURRENCY", "5")
    settings = load_settings(model="from-argument")
    assert (settings.model, settings.concurrency, settings.timeout) == ("from-argument", 5, 30)


def test_config_file_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text('[llm]\nbase_url = "http://127.0.0.1:1/v1"\nmode = "json"\n', encoding="utf-8")
    monkeypatch.setenv("JIXIAO_CONFIG", str(config))
    settings = load_settings()
    assert settings.mode == "json" and settings.endpoint_configured


@pytest.mark.parametrize("content, message", [
    ('[llm]\nmode = "xml"\n', "mode"),
    ('[llm]\nconcurrency = 0\n', "concurrency"),
    ('[llm\n', "not valid TOML"),
    ('llm = 3\n', "must be a table"),
])
def test_bad_settings_are_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(content, encoding="utf-8")
    with pytest.raises(SettingsError, match=message) as raised:
        load_settings(config)
    assert "\n" not in str(raised.value)


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_explicit_backends_pass_through() -> None:
    settings = LLMSettings()
    assert [resolve_backend(name, settings) for name in ("rules", "llm", "hybrid")] == ["rules", "llm", "hybrid"]
