"""Configuration: one TOML file, validated by pydantic, secrets masked when shown.

Lookup order for the file: `--config PATH`, then `$OTTWATCH_CONFIG`, then
`/etc/ottwatch/ottwatch.toml` (when it exists), then the user's config folder
(`~/.config/ottwatch/ottwatch.toml`). With none of them, the defaults apply.
`$OTTWATCH_DB_URL` overrides `[storage] url`.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from ottwatch.alerts.redact import mask_generic_url, mask_path, mask_query
from ottwatch.config_problems import Problem, from_validation, render
from ottwatch.detector_mode import DetectorMode
from ottwatch.geo.settings import GeoSettings

if TYPE_CHECKING:
    from ottwatch.alerts.settings import AlertSettings

SYSTEM_CONFIG = Path("/etc/ottwatch/ottwatch.toml")
USER_CONFIG = Path(platformdirs.user_config_dir("ottwatch")) / "ottwatch.toml"
DB_URL_ENV = "OTTWATCH_DB_URL"
CONFIG_ENV = "OTTWATCH_CONFIG"


def default_db_url() -> str:
    if os.geteuid() == 0:
        return "sqlite:////var/lib/ottwatch/ottwatch.db"
    return f"sqlite:///{Path(platformdirs.user_data_dir('ottwatch')) / 'ottwatch.db'}"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class StorageConfig(Section):
    url: str = Field(default_factory=default_db_url)
    retention_days: int = Field(365, ge=1)
    batch_size: int = Field(2000, ge=1, le=100_000)
    batch_latency_ms: int = Field(50, ge=1, le=60_000)
    # Detector state (windows, consent, graph) is saved at most this often and at shutdown;
    # a crash forgets at most this much of it (never an event).
    state_every_s: float = Field(30.0, ge=0)


class IngestConfig(Section):
    max_line_bytes: int = Field(64 * 1024, ge=256, le=16 * 1024 * 1024)
    quarantine_raw_bytes: int = Field(4096, ge=64, le=1024 * 1024)
    queue_chunks: int = Field(16, ge=1)  # × 256 KiB read blocks: what a stop must drain
    # Events further ahead than this (of the wall clock; in replay also of the newest
    # accepted event time) are quarantined as timestamp_in_future; 0: no bound.
    max_future_skew_s: float = Field(86400.0, ge=0)
    # Replay: lines in a row that far ahead and within the skew of each other are a real
    # jump of the log (a gap), accepted; 1: the stream rule is off.
    future_confirm_lines: int = Field(3, ge=1, le=10_000)


class SourcesConfig(Section):
    files: list[str] = []
    poll: bool = False
    poll_interval_ms: int = Field(250, ge=10)
    tcp: str = ""
    unix: str = ""
    stdin: bool = False
    max_connections: int = Field(64, ge=1, le=65_536)
    # What one socket client may take (docs/decisions/sockets.md). A peer is a TCP
    # client's host address, or a Unix-socket client's user id.
    max_connections_per_peer: int = Field(16, ge=1, le=65_536)  # at most max_connections
    idle_timeout_s: float = Field(60.0, ge=0.1, le=86_400)  # no complete line for this long
    line_timeout_s: float = Field(10.0, ge=0.1, le=3_600)  # one line unfinished this long
    bad_lines_per_minute: int = Field(100, ge=1, le=1_000_000)  # per peer
    bad_lines_per_connection: int = Field(1000, ge=1, le=100_000_000)
    bytes_per_minute: int = Field(512 * 1024 * 1024, ge=1024 * 1024)  # per connection

    @field_validator("tcp")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if value:
            host, sep, port = value.rpartition(":")
            if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
                raise ValueError("expected HOST:PORT, for example 127.0.0.1:7514")
        return value


class GeoConfig(GeoSettings, DetectorMode):
    """`[geo]`: the databases and lists, beside the geo stage's scoring settings."""

    city_db: str = ""
    asn_db: str = ""
    anonymous_db: str = ""
    anonymizer_lists: list[str] = []
    feed_urls: list[str] = []


class MetricsConfig(Section):
    """`[metrics]`: the agent's health (docs/decisions/health.md)."""

    listen: str = ""  # HOST:PORT of the Prometheus /metrics endpoint; empty: off
    heartbeat_s: float = Field(5.0, gt=0, le=3600)
    source_silent_s: float = Field(3600.0, ge=0)  # self-alert after this silence; 0: off
    outbox_backlog: int = Field(1000, ge=0)  # self-alert above this many due; 0: off

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if value:
            host, sep, port = value.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
                raise ValueError("expected HOST:PORT, for example 127.0.0.1:9464")
        return value


class LogConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = "warning"


class ConfigBase(Section):
    """What every config has beside its sections (those come from `config_model`)."""

    source_path: Path | None = Field(None, exclude=True)


def _own_sections() -> tuple[dict[str, type[BaseModel]], dict[str, type[BaseModel]]]:
    """The sections no pipeline part owns: those read before the parts', those after."""
    from ottwatch.reports.settings import ReportSettings
    from ottwatch.roi import RoiSettings
    from storage.retention import RetentionSettings

    before = {"storage": StorageConfig, "ingest": IngestConfig, "sources": SourcesConfig}
    after = {"log": LogConfig, "metrics": MetricsConfig, "retention": RetentionSettings,
             "reports": ReportSettings, "scoring.roi": RoiSettings}
    return before, after


@cache
def config_sections() -> dict[str, type[BaseModel]]:
    """Every section (dotted for a sub-table) -> its settings model, in the order
    `config check` shows them: the pipeline's from its table of parts, in its order.
    The settings modules are imported on first use, not with this module: `ottwatch tui`
    masks a database URL without them."""
    from ottwatch.stages.table import part_sections

    before, after = _own_sections()
    return {**before, **part_sections(), **after}


@cache
def config_model() -> type[ConfigBase]:
    """The `Config` model, made from `config_sections()`: sub-tables (`scoring.learning`)
    become fields of their parent's model. Every section forbids unknown keys."""
    sections = config_sections()
    children: dict[str, dict[str, Any]] = {}
    for name, model in sections.items():
        parent, _, child = name.rpartition(".")
        if "." in parent:
            raise TypeError(f"[{name}]: sections nest one level deep")
        if parent:
            children.setdefault(parent, {})[child] = (model, Field(default_factory=model))
    top: dict[str, Any] = {}
    for name, model in sections.items():
        if "." in name:
            continue
        if name in children:
            model = create_model(f"{name.title()}Section", __base__=model, **children[name])
        top[name] = (model, Field(default_factory=model))
    return create_model("Config", __base__=ConfigBase, **top)


def section_model(name: str) -> type[BaseModel]:
    """The model of a section as the config validates it (with its sub-tables)."""
    model = config_model().model_fields[name].annotation
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return model


if TYPE_CHECKING:
    class Config(ConfigBase):
        """The parts' sections are attributes too (`config.velocity`)."""

        storage: StorageConfig
        ingest: IngestConfig
        sources: SourcesConfig
        log: LogConfig
        geo: GeoConfig
        alerts: AlertSettings

        def __getattr__(self, section: str) -> Any: ...


def __getattr__(name: str) -> Any:
    """`Config` and the section models made with it (`ScoringSection`), made on first
    use (see `config_sections`); by name, so that a config pickles (the trainer's
    process gets one)."""
    if name != "Config" and not name.endswith("Section"):  # e.g. a `__wrapped__` probe
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    model = config_model()
    made = {model.__name__: model} | {
        field.annotation.__name__: field.annotation for field in model.model_fields.values()
        if getattr(field.annotation, "__module__", None) == __name__}
    if name in made:
        return made[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ConfigError(Exception):
    """A config file that cannot be read or does not validate: one line per mistake,
    each saying where (`file:line: [section] key: message`)."""

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)


def find_config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    if explicit:
        return Path(explicit)
    if env := os.environ.get(CONFIG_ENV):
        return Path(env)
    for candidate in (SYSTEM_CONFIG, USER_CONFIG):
        if candidate.is_file():
            return candidate
    return None


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    path = find_config_path(explicit)
    text = ""
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: no such file") from exc
    config = validate_config(text, str(path or "defaults"))
    if env_url := os.environ.get(DB_URL_ENV):
        config.storage.url = env_url
    if path is not None:
        config.source_path = path
        _resolve_relative_paths(config, path.parent)
    return config


_TOML_AT = re.compile(r"\s*\(at (?:line (\d+), column \d+|end of document)\)$")


def validate_config(text: str, where: str) -> Config:
    """The config in this TOML text; `ConfigError` lists every mistake, one per line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        at = _TOML_AT.search(message)
        line = (at.group(1) or max(1, len(text.splitlines()))) if at else None
        place = f"{where}:{line}" if line else where
        raise ConfigError(f"{place}: not valid TOML: {_TOML_AT.sub('', message)}") from exc
    model = config_model()
    problems: list[Problem] = []
    config = None
    try:
        config = model.model_validate(data)
    except ValidationError as exc:
        problems = from_validation(exc, model)
    problems += _section_checks(model, data, problems)
    if problems:
        raise ConfigError(*render(problems, where, text, config_sections()))
    assert config is not None
    return config  # type: ignore[return-value]


def _section_checks(model: type[ConfigBase], data: dict[str, Any],
                    found: list[Problem]) -> list[Problem]:
    """What a section checks across its keys once they validate (`problems()`: alert
    routes against the channels' tags, channels apprise cannot load), for every
    section without a mistake already."""
    out: list[Problem] = []
    broken = {problem.loc[0] for problem in found if problem.loc}
    for name, field in model.model_fields.items():
        checks = getattr(field.annotation, "problems", None)
        if checks is None or name in broken or name not in data:
            continue
        section = field.annotation.model_validate(data[name])  # type: ignore[union-attr]
        out += [Problem((name, *p.loc), p.message, p.did_you_mean) for p in section.problems()]
    return out


def _resolve_relative_paths(config: Config, base: Path) -> None:
    def resolve(value: str) -> str:
        return str(base / value) if value and not Path(value).is_absolute() else value

    config.sources.files = [resolve(p) for p in config.sources.files]
    config.geo.anonymizer_lists = [resolve(p) for p in config.geo.anonymizer_lists]
    config.alerts.config_file = resolve(config.alerts.config_file)
    for name in ("city_db", "asn_db", "anonymous_db"):
        setattr(config.geo, name, resolve(getattr(config.geo, name)))
    if config.storage.url.startswith("sqlite:///") and not config.storage.url.startswith(
        "sqlite:////"
    ):
        relative = config.storage.url.removeprefix("sqlite:///")
        if relative and relative != ":memory:":
            config.storage.url = f"sqlite:///{base / relative}"


def mask_url(url: str) -> str:
    """Hide the secret parts of a database or apprise URL: the password and every
    query value (`?password=`, `sslkey=`...); keys, scheme, host and database stay."""
    if "://" not in url:
        return url
    scheme = url.split("://", 1)[0]
    if scheme.startswith(("sqlite", "postgresql", "postgres")):
        from sqlalchemy.engine import make_url

        try:
            rendered = make_url(url).render_as_string(hide_password=True)
        except Exception:
            return f"{scheme}://***"
        base, sep, query = rendered.partition("?")
        return f"{base}{sep}{mask_query(query)}"
    return mask_apprise_url(url)


def mask_apprise_url(url: str) -> str:
    """apprise's own privacy rendering; never the raw URL, even if apprise cannot parse it."""
    import apprise

    tags, sep, bare = url.partition("=") if "=" in url.split("://", 1)[0] else ("", "", url)
    logger = logging.getLogger("apprise")
    quiet = logger.disabled
    logger.disabled = True  # its "Unparseable URL" line shows a password's first and last chars
    try:
        plugin = apprise.Apprise.instantiate(bare, suppress_exceptions=True)
    finally:
        logger.disabled = quiet
    if not plugin:
        return f"{tags}{sep}{mask_generic_url(bare)}"
    return f"{tags}{sep}{mask_privacy_url(plugin.url(privacy=True))}"


def mask_privacy_url(rendered: str) -> str:
    """An apprise privacy rendering (`service.url(privacy=True)`) with its query values
    and token-long path segments masked too: apprise hides the secrets it knows of, but
    shows `+Header=value` values and the path of a generic webhook (`json://host/TOKEN`)."""
    base, sep, query = rendered.partition("?")
    scheme, slashes, rest = base.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme}{slashes}{host}{slash}{mask_path(path)}{sep}{mask_query(query)}"


def effective_config(config: Config) -> dict[str, Any]:
    """Every section's effective values, secrets masked (`ottwatch config check`)."""
    data = config.model_dump()
    data["storage"]["url"] = mask_url(config.storage.url)
    data["alerts"]["urls"] = [mask_apprise_url(u) for u in config.alerts.urls]
    data["geo"]["feed_urls"] = [mask_url(u) for u in config.geo.feed_urls]
    return data
