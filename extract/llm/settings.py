"""Where the LLM is and how to talk to it, from the environment or a config file.

Precedence, strongest first: explicit arguments (the command line), environment
variables, the config file, the defaults below. The config file is TOML with an
``[llm]`` table, found at ``$JIXIAO_CONFIG``, else ``./jixiao.toml``, else
``~/.config/jixiao/config.toml``. The API key is a secret: it is never printed or
written anywhere by jixiao.

Environment: ``OPENAI_API_KEY``, ``OPENAI_BASE_URL`` (or ``JIXIAO_API_KEY``,
``JIXIAO_BASE_URL``), ``JIXIAO_MODEL``, ``JIXIAO_MODE`` (tools | json | md_json),
``JIXIAO_TEMPERATURE``, ``JIXIAO_TIMEOUT``, ``JIXIAO_RETRIES``, ``JIXIAO_MAX_REASKS``,
``JIXIAO_CONCURRENCY``, ``JIXIAO_CACHE_DIR``, ``JIXIAO_NO_CACHE``,
``JIXIAO_MAX_TOKENS_TOTAL``, ``JIXIAO_MAX_TOKENS``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

import tomllib
from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_MODEL = "gpt-4o-mini"
"""Used when nothing names a model; local OpenAI-compatible servers usually ignore the name."""
CONFIG_ENV = "JIXIAO_CONFIG"
LOCAL_CONFIG = Path("jixiao.toml")
USER_CONFIG = Path("~/.config/jixiao/config.toml")
InstructorMode = Literal["tools", "json", "md_json"]


class SettingsError(ValueError):
    """A setting that cannot be used; the message is one line for the user."""


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jixiao" / "llm"


class LLMSettings(BaseSettings):
    """Endpoint, model and the knobs of one run; see the module docstring for the sources."""

    model_config = SettingsConfigDict(env_prefix="JIXIAO_", extra="ignore", populate_by_name=True,
                                      validate_default=True)

    api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices(
        "api_key", "JIXIAO_API_KEY", "OPENAI_API_KEY"))
    base_url: str | None = Field(default=None, validation_alias=AliasChoices(
        "base_url", "JIXIAO_BASE_URL", "OPENAI_BASE_URL"))
    model: str | None = None
    """None means "not configured" (the default model is then used); see ``endpoint_configured``."""
    mode: InstructorMode = "tools"
    """tools: function calling; json: response_format json_object; md_json: JSON in a fenced block
    (for local servers without tool calling)."""
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    timeout: float = Field(default=120.0, gt=0)
    """Seconds per HTTP request; a request that takes longer is retried like a 5xx."""
    retries: int = Field(default=2, ge=0, le=10)
    """Transport retries per request (429, 5xx, timeouts, lost connections), done by the openai client."""
    max_reasks: int = Field(default=2, ge=0, le=10)
    """Re-asks after an answer fails validation (instructor's max_retries: attempts = max_reasks + 1)."""
    max_tokens: int | None = Field(default=None, gt=0)
    """Completion limit per request, None for the server's default."""
    concurrency: int = Field(default=4, ge=1, le=256)
    cache_dir: Path = Field(default_factory=default_cache_dir)
    no_cache: bool = False
    max_tokens_total: int | None = Field(default=None, gt=0)
    """A budget for the whole run: no new table is sent once prompt + completion tokens reach it."""

    config_values: ClassVar[dict[str, Any]] = {}
    """The config file's ``[llm]`` table, set on a subclass by ``load_settings``."""

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, InitSettingsSource(settings_cls, init_kwargs=dict(cls.config_values))

    @property
    def endpoint_configured(self) -> bool:
        """An endpoint is configured when a base URL is given, or a key together with a model.

        A key alone (``OPENAI_API_KEY`` set for some other tool) does not switch jixiao to
        spending money by default; naming the model (``JIXIAO_MODEL``) does.
        """
        return self.base_url is not None or (self.api_key is not None and self.model is not None)

    @property
    def model_name(self) -> str:
        return self.model or DEFAULT_MODEL

    def describe(self) -> dict[str, Any]:
        """The settings for display: the key is shown only as set / not set."""
        return {
            "endpoint": self.base_url or "https://api.openai.com/v1 (openai default)",
            "api_key": "set" if self.api_key is not None else "not set",
            "model": self.model_name, "mode": self.mode, "temperature": self.temperature,
            "timeout": self.timeout, "retries": self.retries, "max_reasks": self.max_reasks,
            "concurrency": self.concurrency, "cache": "off" if self.no_cache else str(self.cache_dir),
            "max_tokens_total": self.max_tokens_total,
        }


def config_path(explicit: str | Path | None = None) -> Path | None:
    """The config file in use: explicit, ``$JIXIAO_CONFIG``, ``./jixiao.toml``, the user's, or none."""
    if explicit is not None:
        return Path(explicit)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    for candidate in (LOCAL_CONFIG, USER_CONFIG.expanduser()):
        if candidate.is_file():
            return candidate
    return None


def read_config(path: Path) -> dict[str, Any]:
    """The ``[llm]`` table of a TOML config file (a file without one holds no LLM settings)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"config file {path} cannot be read: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"config file {path} is not valid TOML: {error}") from None
    table = data.get("llm", {})
    if not isinstance(table, dict):
        raise SettingsError(f"config file {path}: [llm] must be a table")
    return table


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> LLMSettings:
    """Settings from arguments, environment and config file; ``None`` overrides are ignored.

    Raises ``SettingsError`` with a one-line message for a bad value or file.
    """
    path = config_path(config_file)
    file_values = read_config(path) if path is not None else {}
    given = {key: value for key, value in overrides.items() if value is not None}
    configured = type("LLMSettingsWithFile", (LLMSettings,), {"config_values": file_values})
    try:
        return configured(**given)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        source = f" (config {path})" if path is not None else ""
        raise SettingsError(f"LLM setting {where}{source}: {first['msg']}") from None


def resolve_backend(backend: str, settings: LLMSettings | None) -> str:
    """``auto`` is hybrid when an endpoint is configured, rules otherwise."""
    if backend != "auto":
        return backend
    return "hybrid" if settings is not None and settings.endpoint_configured else "rules"
