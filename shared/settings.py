"""Configuration from BILLING_* environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_WEBHOOKS_RETRY_SCHEDULE = "5,300,1800,7200,18000,36000,36000"
"""5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about 27.6 hours."""


class ConfigurationError(Exception):
    """Bad configuration: one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_", extra="ignore")

    env: Literal["development", "production"] = "development"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/billing"
    database_read_url: str | None = None
    """A streaming replica for the read-only API queries (docs/design.md); unset: everything on the primary."""
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)
    secret_key: str | None = None
    secret_key_file: Path = Path.home() / ".local" / "share" / "billing" / "secret.key"
    public_url: str = "http://127.0.0.1:8080"
    db_pool_size: int = Field(default=20, ge=1, le=200)
    prefetch: int = Field(default=32, ge=1, le=1000)
    retry_delay_ms: int = Field(default=2000, ge=10)
    max_attempts: int = Field(default=5, ge=1, le=50)
    scheduler_interval_s: float = Field(default=5.0, gt=0)
    rpc_timeout_s: float = Field(default=5.0, gt=0)
    nightly_reconciliation: bool = True
    """Reconcile yesterday of every account with an API source after 02:00 UTC."""
    janitor_after_s: float = Field(default=30.0, gt=0)
    """How long a provider payment may stay pending untouched before the janitor asks the provider."""
    log_level: str = "INFO"
    metrics_port_ingress: int = Field(default=9100, ge=0, le=65535)
    """Where the ingress serves /metrics (on BILLING_HTTP_HOST, never on its public port); 0 turns it off."""
    metrics_port_processor: int = Field(default=9101, ge=0, le=65535)
    """Where the processor serves /metrics (on BILLING_HTTP_HOST); 0 turns it off."""
    metrics_port_refunds: int = Field(default=9102, ge=0, le=65535)
    """Where the refunds worker serves /metrics (on BILLING_HTTP_HOST); 0 turns it off."""
    rate_limit_rps: float = Field(default=50.0, gt=0)
    """Requests a second each API key earns back (token bucket, per ingress replica)."""
    rate_limit_burst: int = Field(default=100, ge=1)
    """Requests an API key may spend at once (the bucket's size)."""
    webhook_log_days: int = Field(default=90, ge=1)
    """How long gateway calls stay in webhook_log before the scheduler deletes them."""
    metrics_port_webhooks: int = Field(default=9103, ge=0, le=65535)
    """Where the webhooks worker serves /metrics (on BILLING_HTTP_HOST); 0 turns it off."""
    webhooks_retry_schedule: str = DEFAULT_WEBHOOKS_RETRY_SCHEDULE
    """Seconds between a merchant webhook's attempts, comma-separated (the default spans about 27.6 hours)."""
    webhooks_allow_private: bool = False
    """Merchant webhook URLs may be http and resolve to any address (local development and tests only)."""
    webhooks_concurrency: int = Field(default=64, ge=1, le=1000)
    """Merchant webhook requests in flight at once, per webhooks worker."""
    webhooks_endpoint_concurrency: int = Field(default=4, ge=1, le=100)
    """Requests in flight at once to any one merchant endpoint, so one slow endpoint holds only its own share."""
    rates_source: str = ""
    """Where the processor fetches the day's exchange rates once a day: `cbu` or an installed
    `billing.rates_sources` plug-in; empty turns the scheduled fetch off (rates are then imported by hand)."""
    rates_url: str | None = None
    """The rate source's URL (`{date}` becomes YYYY-MM-DD); empty means the source's own (CBU's archive)."""
    tracing: Literal["off", "console", "otlp"] = "off"
    """OpenTelemetry spans: off, JSON lines on stdout, or OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT."""

    @field_validator("database_url", "database_read_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("postgresql+asyncpg://"):
            raise ValueError("must start with postgresql+asyncpg://")
        return value

    @field_validator("amqp_url")
    @classmethod
    def _amqp(cls, value: str) -> str:
        """One URL, or several comma-separated (the nodes of one cluster), each amqp:// or amqps://."""
        urls = [part.strip() for part in value.split(",")]
        if not all(url.startswith(("amqp://", "amqps://")) for url in urls):
            raise ValueError("must be amqp:// or amqps:// URLs, comma-separated for the nodes of a cluster")
        return ",".join(urls)

    @field_validator("webhooks_retry_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        retry_delays(value)
        return value

    @property
    def webhooks_retry_delays(self) -> tuple[float, ...]:
        """BILLING_WEBHOOKS_RETRY_SCHEDULE as seconds."""
        return retry_delays(self.webhooks_retry_schedule)

    @field_validator("public_url")
    @classmethod
    def _public(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


def retry_delays(schedule: str) -> tuple[float, ...]:
    """Comma-separated seconds, each positive; ValueError saying what is wrong otherwise."""
    try:
        delays = tuple(float(part) for part in schedule.split(","))
    except ValueError:
        raise ValueError("must be comma-separated seconds, e.g. 5,300,1800") from None
    if not all(0 < delay <= 30 * 86400 for delay in delays):
        raise ValueError("every delay must be more than 0 and at most 30 days")
    return delays


def load_settings() -> Settings:
    """Read the settings, or raise ConfigurationError naming the first bad variable."""
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "BILLING_" + str(first["loc"][0]).upper() if first["loc"] else "BILLING_*"
        raise ConfigurationError(f"{name}: {first['msg']}") from None
    if settings.env == "production" and not settings.secret_key:
        raise ConfigurationError("BILLING_SECRET_KEY: required when BILLING_ENV=production")
    return settings


def secret_key(settings: Settings) -> str:
    """The keys that encrypt gateway credentials (comma-separated, the first seals); in development one is
    generated into a local file."""
    from cryptography.fernet import Fernet

    key = settings.secret_key
    if not key:
        path = settings.secret_key_file
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            draft = path.with_name(f"{path.name}.{os.getpid()}")
            fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(Fernet.generate_key().decode())
            try:
                os.link(draft, path)  # atomic: the first process to get here wins
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        key = path.read_text().strip()
    keys = [part.strip() for part in key.split(",")]
    try:
        for part in keys:
            Fernet(part.encode())
    except (ValueError, TypeError):
        raise ConfigurationError(
            "BILLING_SECRET_KEY: must be one or more comma-separated Fernet keys (32 url-safe base64-encoded bytes "
            "each; the first encrypts)"
        ) from None
    return ",".join(keys)
