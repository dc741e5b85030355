"""``labrecog serve``: the CDS Hooks service (docs/cds-hooks.md, docs/security.md).

Starlette and uvicorn are imported only when the command runs, so the rest of the CLI
works without the ``server`` extra. The configuration file is checked, the trusted
issuers' keys read, the rule set loaded and the feedback store opened before the port is
bound: any of them unusable exits 2 without ever listening. Without trusted issuers the
service does not start at all, unless ``--insecure-no-auth`` says so on the command line.
"""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING, Any, NoReturn, cast

import click
from click.core import ParameterSource

from labrecog.cli.common import EXIT_RULES, load_engine

if TYPE_CHECKING:
    from labrecog.server._card_text import CardSet

__all__ = ["serve"]

EXIT_SETUP = EXIT_RULES  # a missing extra or an unusable store: 2, like a bad rule set

HOW_TO_AUTH = (
    "labrecog serve: no trusted CDS clients are configured, so no call could be verified; "
    "give --config serve.toml with [[auth.issuers]] (see docs/security.md and "
    "examples/serve.toml), or --insecure-no-auth for a trial on your own machine"
)

# Command-line parameters and the configuration-file keys they override.
_FILE_KEYS = {
    "rules_path": "rules",
    "host": "host",
    "port": "port",
    "public_url": "public_url",
    "feedback_db": "feedback_db",
    "lang": "lang",
    "max_body": "max_body",
    "cors_origins": "cors_origins",
    "fhir_servers": "fhir_servers",
    "card_set": "cards",
    "log_level": "log_level",
}


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Settings file (TOML): trusted issuers, public URL, CORS, limits, and any option "
    "below; options given on the command line override it (docs/security.md).",
)
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    help="Run without verifying CDS client JWTs: anyone who reaches the port is served. "
    "For a trial on your own machine only; logged as a warning on every start.",
)
@click.option(
    "--public-url",
    help="The service's base URL as CDS clients call it (a token's aud must be this + "
    "/cds-services/<id>).",
)
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(),
    envvar="LABRECOG_RULES",
    help="Rule set folder or file, loaded once at start (or rules in --config).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--feedback-db",
    default="labrecog-feedback.sqlite3",
    show_default=True,
    envvar="LABRECOG_FEEDBACK_DB",
    help="SQLite file, or a postgresql:// URL (needs psycopg). Env: LABRECOG_FEEDBACK_DB.",
)
@click.option("--institution", "institution_id", help="Ordering institution id (fallback).")
@click.option("--region", help="Ordering institution region code (with --institution).")
@click.option(
    "--level",
    type=click.IntRange(1, 3),
    help="Ordering institution level 1-3 (with --institution).",
)
@click.option(
    "--lang", type=click.Choice(["zh", "en"]), help="Card language (default: the rule set's)."
)
@click.option(
    "--max-body",
    default=8 * 1024 * 1024,
    show_default=True,
    type=click.IntRange(1024, None),
    help="Largest accepted request body in bytes (larger: HTTP 413).",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    help="Allowed browser origin (repeatable); default: none, so no CORS headers.",
)
@click.option(
    "--fhir-server",
    "fhir_servers",
    multiple=True,
    help="FHIR base URL the service may query for missing prefetch (repeatable); "
    "default: none, so it never queries one.",
)
@click.option(
    "--cards",
    "card_set",
    default="both",
    show_default=True,
    # labrecog.server's CARD_SETS, written out: the server extra is imported only on run.
    type=click.Choice(["items", "summary", "both"]),
    help="Cards to answer: one per recognised item, the order's summary card "
    "(what is still to order), or both. The authorisation notice comes with each.",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def serve(
    config_path: str | None,
    insecure_no_auth: bool,
    public_url: str | None,
    rules_path: str | None,
    host: str,
    port: int,
    feedback_db: str,
    institution_id: str | None,
    region: str | None,
    level: int | None,
    lang: str | None,
    max_body: int,
    cors_origins: tuple[str, ...],
    fhir_servers: tuple[str, ...],
    card_set: str,
    log_level: str,
) -> None:
    """Run the CDS Hooks service (order-select, order-sign) for the rule set --rules."""
    try:
        import uvicorn

        from labrecog.server import (
            INSECURE_NO_AUTH,
            ConfigError,
            RateLimit,
            ServeConfig,
            build_authenticator,
            configure_logging,
            create_app,
            load_config,
            open_feedback_store,
        )
        from labrecog.server._fetch import FetchLimits
        from labrecog.server._logging import log_event
    except ImportError as exc:
        click.echo(
            f"labrecog serve needs the server extra ({exc.name} is missing): "
            "pip install 'labrecog[server]'",
            err=True,
        )
        sys.exit(EXIT_SETUP)
    if (region is not None or level is not None) and institution_id is None:
        raise click.UsageError("--region and --level describe --institution; give it too")
    ctx = click.get_current_context()
    given = {
        # repeatable options come as tuples; the file's lists are lists
        key: list(ctx.params[name]) if isinstance(ctx.params[name], tuple) else ctx.params[name]
        for name, key in _FILE_KEYS.items()
        if ctx.get_parameter_source(name)
        in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    }
    if institution_id is not None:
        given["institution"] = {
            k: v for k, v in (("id", institution_id), ("region", region), ("level", level)) if v
        }
    try:
        file = load_config(config_path) if config_path is not None else ServeConfig()
        settings = file.merged(given)
        if insecure_no_auth and settings.issuers:
            _refuse(
                f"{settings.source}: --insecure-no-auth, yet trusted issuers are configured "
                "(auth.issuers): choose one"
            )
        if not insecure_no_auth and not settings.issuers:
            _refuse(HOW_TO_AUTH)
        auth = INSECURE_NO_AUTH if insecure_no_auth else build_authenticator(settings)
    except ConfigError as exc:
        _refuse(str(exc))
    if settings.rules is None:
        raise click.UsageError("give --rules (or rules in the --config file)")
    # Defaults of the options, for what neither the file nor the command line set.
    host = settings.host or host
    port = settings.port if settings.port is not None else port
    feedback_db = settings.feedback_db or feedback_db
    max_body = settings.max_body or max_body
    card_set = settings.cards or card_set
    engine = load_engine(settings.rules, settings.lang)  # exits 2 on an invalid rule set
    institution = (
        settings.institution.model_dump(exclude_none=True) if settings.institution else None
    )
    postgres = feedback_db.startswith(("postgresql://", "postgres://"))
    try:
        store = open_feedback_store(feedback_db)
    except Exception as exc:  # never echo the URL: it may hold a password
        target = "PostgreSQL" if postgres else feedback_db
        click.echo(f"cannot open the feedback store ({target}): {type(exc).__name__}", err=True)
        sys.exit(EXIT_SETUP)
    configure_logging(settings.log_level or log_level)
    limit = settings.rate_limit
    app = create_app(
        engine,
        feedback_store=store,
        auth=auth,
        rate_limit=RateLimit(limit.per_minute, limit.burst) if limit is not None else None,
        institution=institution,
        max_body_bytes=max_body,
        cors_origins=tuple(settings.cors_origins),
        fetch_limits=FetchLimits(servers=tuple(settings.fhir_servers), max_bytes=max_body),
        cards=cast("CardSet", card_set),
    )
    rules = engine.rules
    security: dict[str, Any] = {"auth": "none"}
    if not insecure_no_auth:
        issuers = [i.iss for i in settings.issuers]
        security = {"auth": "jwt", "issuers": issuers, "public_url": settings.public_url}
    if settings.cors_origins:
        security["cors_origins"] = list(settings.cors_origins)
    if limit is not None:
        security["rate_limit"] = f"{limit.per_minute}/min burst {limit.burst}"
    log_event(
        "starting",
        ruleset=f"{rules.id} {rules.version}",
        digest=rules.digest,
        lang=engine.lang,
        feedback_store="postgresql" if postgres else "sqlite",
        institution=institution["id"] if institution else None,
        host=host,
        port=port,
        cards=card_set,
        **security,
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="off",
    )
    # uvicorn stops on SIGINT/SIGTERM, then re-raises the signal: both end the command
    # with status 0 once the server has shut down and the store is closed.
    signal.signal(signal.SIGTERM, _stop)
    try:
        uvicorn.Server(config).run()
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        store.close()
        log_event("stopped")


def _refuse(message: str) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(EXIT_SETUP)


class _Stopped(Exception):
    """SIGTERM, replayed by uvicorn after its graceful shutdown."""


def _stop(signum: int, frame: object) -> None:
    raise _Stopped
