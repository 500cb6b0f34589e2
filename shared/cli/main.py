"""The `billing` command line."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from shared.settings import ConfigurationError, Settings, load_settings

T = TypeVar("T")

app = typer.Typer(
    help="The billing service.", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False
)
tenant_app = typer.Typer(help="Tenants.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys.", no_args_is_help=True)
gateway_app = typer.Typer(help="Gateway accounts.", no_args_is_help=True)
dlq_app = typer.Typer(help="Parked messages (the dead-letter parking queue).", no_args_is_help=True)
rates_app = typer.Typer(help="Exchange rates (kept by the service's operator).", no_args_is_help=True)
fiscal_app = typer.Typer(help="Fiscal receipts (Uzbekistan's OFD) the service submits.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(apikey_app, name="apikey")
app.add_typer(gateway_app, name="gateway")
app.add_typer(dlq_app, name="dlq")
app.add_typer(rates_app, name="rates")
app.add_typer(fiscal_app, name="fiscal")
secrets_app = typer.Typer(help="The keys that encrypt stored credentials.", no_args_is_help=True)
app.add_typer(secrets_app, name="secrets")
operator_app = typer.Typer(help="Operators of the console.", no_args_is_help=True)
app.add_typer(operator_app, name="operator")


def fail(message: str, code: int = 1) -> NoReturn:
    print(f"billing: {message}", file=sys.stderr)
    raise SystemExit(code)


def out(document: Any) -> None:
    print(json.dumps(document, default=str))


def settings() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as exc:
        fail(str(exc))


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; a missing database or schema and an unreachable server become one line."""
    import asyncpg
    from aio_pika.exceptions import AMQPError

    try:
        return asyncio.run(coro)
    except Exception as exc:
        cause = _driver_error(exc)
        if isinstance(cause, asyncpg.InvalidCatalogNameError):
            fail("the database does not exist yet: run `billing migrate` first")
        if isinstance(cause, asyncpg.UndefinedTableError):
            fail("the database has no schema yet: run `billing migrate` first")
        if isinstance(cause, OSError | asyncpg.PostgresConnectionError):
            fail(f"cannot reach PostgreSQL or RabbitMQ: {cause}")
        if isinstance(cause, asyncpg.PostgresError):
            fail(f"PostgreSQL refused: {' '.join(str(cause).split())}")
        if isinstance(cause, AMQPError):
            fail(f"RabbitMQ refused: {' '.join(str(cause).split())}")
        raise


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's own error under SQLAlchemy's wrappers (its `__cause__` chain), else `exc` itself."""
    import asyncpg

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, asyncpg.PostgresError | OSError):
            return seen
        seen = seen.__cause__
    return exc


def _engine(config: Settings) -> Any:
    from shared.persistence.database import create_engine

    return create_engine(config.database_url, pool_size=2)


@asynccontextmanager
async def _opened_engine(config: Settings) -> AsyncIterator[Any]:
    """An engine for one command, disposed however the command ends (a `fail` included)."""
    engine = _engine(config)
    try:
        yield engine
    finally:
        await engine.dispose()


def run_service(coro: Coroutine[Any, Any, None]) -> None:
    """Run a worker on uvloop: asyncpg and aio-pika spend most of their time in the event loop's I/O."""
    import uvloop

    uvloop.run(coro)


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"{what} {value!r} is not a UUID")


@app.command()
def migrate() -> None:
    """Create the database if it is missing and apply every migration."""
    from shared.persistence.database import create_database_if_missing, upgrade

    config = settings()
    _logging("migrate", config)
    try:
        created = asyncio.run(create_database_if_missing(config.database_url))
    except OSError as exc:
        fail(f"PostgreSQL is not reachable at BILLING_DATABASE_URL: {exc}")
    applied = upgrade(config.database_url)
    out({"database_created": created, "applied": applied})


@app.command()
def up() -> None:
    """Run ingress, processor, refunds (with the outbox relay and scheduler) and webhooks as one supervised group."""
    from shared.cli.supervisor import Unreachable, check_dependencies, supervise
    from shared.persistence.database import create_database_if_missing, upgrade
    from shared.rates.sources import configured_source
    from shared.settings import secret_key

    config = settings()
    _logging("up", config)
    try:
        secret_key(config)
        configured_source(config)
        asyncio.run(check_dependencies(config))
    except (Unreachable, ConfigurationError) as exc:
        fail(str(exc))
    asyncio.run(create_database_if_missing(config.database_url))
    for line in upgrade(config.database_url):
        print(f"billing: applied migration {line}", file=sys.stderr)
    raise SystemExit(supervise(config))


@app.command()
def ingress() -> None:
    """Run the HTTP ingress alone."""
    from services.ingress.app import serve

    config = settings()
    _logging("ingress", config)
    serve(config)


@app.command()
def processor() -> None:
    """Run the processor alone (with the outbox relay and the scheduler)."""
    from services.processor.app import serve
    from shared.rates.sources import configured_source

    config = settings()
    _logging("processor", config)
    try:
        configured_source(config)
    except ConfigurationError as exc:
        fail(str(exc))
    run_service(serve(config))


@app.command()
def refunds() -> None:
    """Run the refunds worker alone."""
    from services.refunds.app import serve

    config = settings()
    _logging("refunds", config)
    run_service(serve(config))


@app.command()
def webhooks() -> None:
    """Run the merchant webhooks worker alone (signed POSTs to the tenants' endpoints, with retries)."""
    from services.webhooks.app import serve

    config = settings()
    _logging("webhooks", config)
    run_service(serve(config))


@app.command()
def doctor() -> None:
    """Check configuration, database, broker, workers, gateway credentials and webhooks; say how to fix each."""
    from shared.cli.doctor import diagnose, report

    text, code = report(asyncio.run(diagnose()))
    print(text)
    raise SystemExit(code)


@app.command()
def asyncapi(
    out_path: Annotated[str | None, typer.Option("--out", help="write here (default: stdout)")] = None,
) -> None:
    """The AsyncAPI document of billing.commands and billing.events, generated from the code."""
    from pathlib import Path

    from shared.cli.asyncapi import render

    text = render()
    if out_path is None:
        sys.stdout.write(text)
        return
    Path(out_path).write_text(text)
    print(f"billing: wrote {out_path}", file=sys.stderr)


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Option("--name", help="the tenant's name")],
    reporting_currency: Annotated[
        str, typer.Option("--reporting-currency", help="the ISO 4217 currency the tenant books in")
    ] = "UZS",
) -> None:
    """Create a tenant."""
    from shared.domain.errors import UnknownCurrency
    from shared.domain.money import Currency
    from shared.persistence.admin import create_tenant

    if not name.strip():
        fail("--name must not be empty")
    try:
        currency = Currency.of(reporting_currency).code
    except UnknownCurrency as exc:
        fail(f"--reporting-currency: {exc}")
    config = settings()

    async def go() -> uuid.UUID:
        async with _opened_engine(config) as engine:
            return await create_tenant(engine, name.strip(), currency)

    out({"id": str(run(go())), "name": name.strip(), "reporting_currency": currency})


@apikey_app.command("create")
def apikey_create(
    tenant: Annotated[str, typer.Option("--tenant", help="tenant id")],
    permission: Annotated[list[str], typer.Option("--permission", help="a permission; repeat for more")],
    name: Annotated[str | None, typer.Option("--name", help="what the key is for (shown in lists)")] = None,
    expires_at: Annotated[
        str | None, typer.Option("--expires-at", help="when the key stops working: ISO 8601 with a UTC offset")
    ] = None,
) -> None:
    """Create an API key for a tenant (the secret is shown once)."""
    from shared.domain.transaction import rfc3339
    from shared.persistence.admin import tenant_exists
    from shared.persistence.api_keys import create_api_key
    from shared.security.apikeys import Permission

    tenant_id = _uuid(tenant, "--tenant")
    known = {p.value: p for p in Permission}
    unknown = [p for p in permission if p not in known]
    if unknown:
        fail(f"unknown permission {unknown[0]!r}; known: {', '.join(known)}")
    if name is not None and not 1 <= len(name.strip()) <= 200:
        fail("--name must be 1 to 200 characters")
    expiry = None if expires_at is None else _future_time(expires_at, "--expires-at")
    config = settings()

    async def go() -> Any:
        async with _opened_engine(config) as engine:
            if not await tenant_exists(engine, tenant_id):
                fail(f"no tenant {tenant_id}")
            return await create_api_key(engine, tenant_id, [known[p] for p in permission], name, expiry)

    issued = run(go())
    out(
        {
            "id": str(issued.id),
            "key": issued.secret,
            "tenant_id": str(tenant_id),
            "name": name,
            "permissions": sorted(set(permission)),
            "expires_at": None if expiry is None else rfc3339(expiry),
        }
    )


def _future_time(text: str, option: str) -> datetime:
    """An ISO 8601 time with its UTC offset, later than now; else the command fails naming `option`."""
    from shared.clock import utc_now

    moment = _iso_time(text.strip())
    if moment is None:
        fail(f"{option} must be an ISO 8601 time such as 2027-01-31T00:00:00Z, not {text!r}")
    if moment.tzinfo is None:
        fail(f"{option} needs a UTC offset (Z or +05:00): {text!r}")
    if moment <= utc_now():
        fail(f"{option} must be in the future")
    return moment


@apikey_app.command("list")
def apikey_list(tenant: Annotated[str, typer.Option("--tenant", help="tenant id")]) -> None:
    """List a tenant's live API keys (never their secrets), with when each was last used."""
    from shared.persistence.admin import tenant_exists
    from shared.persistence.api_keys import ApiKeys

    tenant_id = _uuid(tenant, "--tenant")
    config = settings()

    async def go() -> Any:
        async with _opened_engine(config) as engine:
            if not await tenant_exists(engine, tenant_id):
                fail(f"no tenant {tenant_id}")
            return await ApiKeys(engine, tenant_id).live()

    out({"items": [view.as_json() for view in run(go())]})


@apikey_app.command("revoke")
def apikey_revoke(key_id: Annotated[str, typer.Option("--id", help="the API key's id")]) -> None:
    """Revoke an API key: every ingress replica refuses it within seconds."""
    from shared.persistence.api_keys import revoke_api_key

    parsed = _uuid(key_id, "--id")
    config = settings()

    async def go() -> uuid.UUID | None:
        async with _opened_engine(config) as engine:
            return await revoke_api_key(engine, parsed)

    tenant_id = run(go())
    if tenant_id is None:
        fail(f"no live API key {parsed}")
    out({"id": str(parsed), "tenant_id": str(tenant_id), "revoked": True})


@operator_app.command("create")
def operator_create(
    tenant: Annotated[str, typer.Option("--tenant", help="tenant id")],
    email: Annotated[str, typer.Option("--email", help="the operator's email (unique across the service)")],
    permission: Annotated[list[str], typer.Option("--permission", help="a permission; repeat for more")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input (else one is generated)")
    ] = False,
    timezone: Annotated[str, typer.Option("--timezone", help="IANA zone the console shows times in")] = "UTC",
) -> None:
    """Create a console operator of a tenant; a generated password is printed once."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from shared.persistence.admin import tenant_exists
    from shared.persistence.operators import EmailTaken, Operators
    from shared.security.apikeys import Permission
    from shared.security.passwords import WeakPassword, generate_password, hash_password

    tenant_id = _uuid(tenant, "--tenant")
    known = {p.value for p in Permission}
    unknown = [p for p in permission if p not in known]
    if unknown:
        fail(f"unknown permission {unknown[0]!r}; known: {', '.join(sorted(known))}")
    if "@" not in email or len(email) > 320 or email.strip() != email:
        fail(f"--email {email!r} is not an email address")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"--timezone {timezone!r} is not an IANA time zone")
    generated = None if password_stdin else generate_password()
    password = generated or sys.stdin.read().rstrip("\r\n")
    try:
        password_hash = hash_password(password)
    except WeakPassword as exc:
        fail(str(exc))
    config = settings()

    async def go() -> Any:
        async with _opened_engine(config) as engine:
            if not await tenant_exists(engine, tenant_id):
                fail(f"no tenant {tenant_id}")
            try:
                return await Operators(engine).create(tenant_id, email, password_hash, permission, timezone)
            except EmailTaken as exc:
                fail(str(exc))

    created = run(go())
    document = {
        "id": str(created.id),
        "email": created.email,
        "tenant_id": str(created.tenant_id),
        "permissions": sorted(created.permissions),
    }
    out({**document, "password": generated} if generated else document)


@operator_app.command("list")
def operator_list(tenant: Annotated[str, typer.Option("--tenant", help="tenant id")]) -> None:
    """List a tenant's operators (never their passwords)."""
    from shared.persistence.admin import tenant_exists
    from shared.persistence.operators import Operators

    tenant_id = _uuid(tenant, "--tenant")
    config = settings()

    async def go() -> Any:
        async with _opened_engine(config) as engine:
            if not await tenant_exists(engine, tenant_id):
                fail(f"no tenant {tenant_id}")
            return await Operators(engine).of_tenant(tenant_id)

    out({"items": [operator.as_json() for operator in run(go())]})


@operator_app.command("disable")
def operator_disable(operator_id: Annotated[str, typer.Option("--id", help="the operator's id")]) -> None:
    """Disable an operator: their sessions end at once and they cannot sign in again."""
    from shared.persistence.operators import Operators

    parsed = _uuid(operator_id, "--id")
    config = settings()

    async def go() -> Any:
        async with _opened_engine(config) as engine:
            return await Operators(engine).disable(parsed)

    disabled = run(go())
    if disabled is None:
        fail(f"no operator {parsed}")
    out({"id": str(parsed), "tenant_id": str(disabled.tenant_id), "disabled": True})


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every stored credential with the first key of BILLING_SECRET_KEY (then older keys can go)."""
    from shared.persistence.credentials import reseal_all
    from shared.security.cipher import Cipher
    from shared.settings import secret_key

    config = settings()
    try:
        cipher = Cipher(secret_key(config))
    except ConfigurationError as exc:
        fail(str(exc))

    async def go() -> tuple[int, int]:
        async with _opened_engine(config) as engine:
            return await reseal_all(engine, cipher)

    resealed, unreadable = run(go())
    if unreadable:
        out({"reencrypted": resealed, "unreadable": unreadable})
        fail(
            f"{unreadable} stored credential(s) open with no key of BILLING_SECRET_KEY; "
            "add the key they were sealed with"
        )
    out({"reencrypted": resealed})


@gateway_app.command("add")
def gateway_add(
    tenant: Annotated[str, typer.Option("--tenant", help="tenant id")],
    gateway: Annotated[str, typer.Option("--gateway", help="a gateway of the registry")],
    config_json: Annotated[str, typer.Option("--config-json", help="the account's config as JSON")],
) -> None:
    """Add a gateway account (credentials are stored encrypted)."""
    from shared.domain.errors import UnknownGateway
    from shared.gateways.base import InvalidGatewayConfig
    from shared.gateways.registry import GatewayRegistry
    from shared.persistence.admin import GatewayAccounts, account_json, tenant_exists
    from shared.security.cipher import Cipher
    from shared.settings import secret_key

    tenant_id = _uuid(tenant, "--tenant")
    try:
        raw = json.loads(config_json)
    except json.JSONDecodeError as exc:
        fail(f"--config-json is not valid JSON: {exc}")
    try:
        adapter = GatewayRegistry.load().get(gateway)
    except UnknownGateway as exc:
        fail(str(exc))
    config = settings()
    try:
        cipher = Cipher(secret_key(config))
    except ConfigurationError as exc:
        fail(str(exc))

    async def go() -> dict[str, Any]:
        async with _opened_engine(config) as engine:
            if not await tenant_exists(engine, tenant_id):
                fail(f"no tenant {tenant_id}")
            try:
                view = await GatewayAccounts(engine, cipher, tenant_id).add(adapter, raw)
            except InvalidGatewayConfig as exc:
                fail(str(exc))
            return account_json(view, adapter, config.public_url)

    out(run(go()))


@rates_app.command("import")
def rates_import(
    file: Annotated[Path, typer.Option("--file", help="the rate list to import")],
    form: Annotated[str, typer.Option("--format", help="cbu (the CBU's daily JSON) or json")],
) -> None:
    """Import a day's rates; a rate that differs from the stored one is kept as a correction (a new row)."""
    from shared.cli.rates import import_rates

    if not file.is_file():
        fail(f"--file {file} is not a readable file")
    out(run(import_rates(settings(), file.read_bytes(), form, f"{form}-file:{file.name}")))


@rates_app.command("set")
def rates_set(
    on: Annotated[str, typer.Option("--date", help="the rate's date, YYYY-MM-DD")],
    currency: Annotated[str, typer.Option("--currency", help="ISO 4217 code, e.g. USD")],
    rate: Annotated[str, typer.Option("--rate", help="quote-currency units for one unit, e.g. 12650.12")],
    quote: Annotated[str, typer.Option("--quote", help="the quote currency")] = "UZS",
) -> None:
    """Set one rate by hand (a correction of a stored one is a new row; the newest is used)."""
    from shared.cli.rates import set_rate

    out(run(set_rate(settings(), on, currency, rate, quote)))


@fiscal_app.command("resubmit")
def fiscal_resubmit(transaction: Annotated[str, typer.Option("--transaction", help="the paid transaction")]) -> None:
    """Submit a paid payment's receipt to its gateway again (after a refusal); exits 1 unless it went through."""
    from shared.cli.fiscal import resubmit

    transaction_id = _uuid(transaction, "--transaction")
    outcome = run(resubmit(settings(), transaction_id))
    out(outcome)
    raise SystemExit(0 if outcome["fiscal"].get("status") == "submitted" else 1)


@dlq_app.command("list")
def dlq_list(limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100) -> None:
    """Show parked messages with the reason each was parked."""
    from shared.cli.dlq import list_parked

    config = settings()
    out({"items": run(list_parked(config.amqp_url, limit))})


@dlq_app.command("replay")
def dlq_replay(
    message_id: Annotated[list[str] | None, typer.Option("--message-id", help="replay only these")] = None,
    all_: Annotated[bool, typer.Option("--all", help="replay every parked message")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 1000,
) -> None:
    """Send parked messages back to billing.commands."""
    from shared.cli.dlq import replay

    if not all_ and not message_id:
        fail("name messages with --message-id, or pass --all")
    config = settings()
    replayed = run(replay(config.amqp_url, None if all_ else set(message_id or []), limit))
    out({"replayed": replayed})


@app.command("reconcile")
def reconcile_command(
    account: Annotated[str, typer.Option("--account", help="the gateway account to reconcile")],
    start: Annotated[str, typer.Option("--from", help="start of the period (RFC 3339 or YYYY-MM-DD, UTC)")],
    end: Annotated[str, typer.Option("--to", help="end of the period (RFC 3339 or YYYY-MM-DD, UTC)")],
    file: Annotated[Path | None, typer.Option("--file", help="a settlement file (CSV) instead of the API")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="write every difference to this CSV file")] = None,
) -> None:
    """Reconcile one account over a period against its processor's API or a settlement file."""
    from shared.cli.reconcile import ReconcileRefused, reconcile, write_csv

    account_id = _uuid(account, "--account")
    begins, ends = _moment(start, "--from"), _moment(end, "--to", end_of_day=True)
    if ends <= begins:
        fail("--to must be after --from")
    if file is not None and not file.is_file():
        fail(f"--file {file} is not a readable file")
    config = settings()
    body = file.read_bytes() if file is not None else None
    try:
        view = run(reconcile(config, account_id, begins, ends, file.name if file else None, body))
    except ReconcileRefused as exc:
        fail(str(exc))
    if csv_out is not None:
        write_csv(csv_out, view)
    raise SystemExit(0 if view["status"] == "completed" else 1)


def _iso_time(text: str) -> datetime | None:
    """`text` as a date or an ISO 8601 / RFC 3339 time (`Z` for UTC), naive when it gives no offset; None if not."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _moment(text: str, what: str, end_of_day: bool = False) -> datetime:
    moment = _iso_time(text)
    if moment is None:
        fail(f"{what} {text!r} is not a date or an RFC 3339 time")
    if len(text) == 10 and end_of_day:
        moment = moment + timedelta(days=1) - timedelta(microseconds=1)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


BaseUrl = Annotated[str | None, typer.Option("--base-url", help="the ingress (default BILLING_PUBLIC_URL)")]
AccountId = Annotated[str, typer.Argument(help="the gateway account to play against")]


@app.command("simulate")
def simulate(
    gateway: Annotated[str, typer.Argument(help="the gateway whose side to play (one that ships a simulator)")],
    account_id: AccountId,
    base_url: BaseUrl = None,
) -> None:
    """Play a gateway's side of a sandbox run against a running service and print a pass/fail table."""
    from shared.cli.simulation import Simulation, load_account, table
    from shared.domain.errors import UnknownGateway
    from shared.gateways.registry import GatewayRegistry
    from shared.security.cipher import Cipher
    from shared.settings import secret_key

    try:
        simulator = GatewayRegistry.load().manifest(gateway).simulator
    except UnknownGateway as exc:
        fail(str(exc))
    if simulator is None:
        fail(f"{gateway} ships no simulator")
    config = settings()
    wanted = _uuid(account_id, "ACCOUNT_ID")
    account = run(load_account(config, Cipher(secret_key(config)), wanted))
    if account is None or account.gateway != gateway:
        fail(f"no {gateway} gateway account {wanted}")
    checks: list[Any] = run(simulator()(Simulation((base_url or config.public_url).rstrip("/"), account, config)))
    print(table(checks))
    raise SystemExit(0 if checks and all(c.ok for c in checks) else 1)


def _logging(service: str, config: Settings) -> None:
    from shared.logs import configure

    configure(service, config.log_level)


def main() -> None:
    """Entry point: usage errors become one line on stderr (typer's own boxes are several)."""
    command = typer.main.get_command(app)
    try:
        command.main(standalone_mode=False)
    except SystemExit:
        raise
    except Exception as exc:
        kinds = {cls.__name__ for cls in type(exc).__mro__}
        if "NoArgsIsHelpError" in kinds:
            print(exc.ctx.get_help() if getattr(exc, "ctx", None) else "", file=sys.stderr)  # type: ignore[attr-defined]
            raise SystemExit(2) from None
        if "Exit" in kinds:
            raise SystemExit(getattr(exc, "exit_code", 0)) from None
        if "Abort" in kinds:
            fail("aborted", code=130)
        if callable(getattr(exc, "format_message", None)):  # a usage error of the command-line library
            message = exc.format_message()  # type: ignore[attr-defined]
            fail(" ".join(message.split()), code=getattr(exc, "exit_code", 2))
        raise


if __name__ == "__main__":
    main()
