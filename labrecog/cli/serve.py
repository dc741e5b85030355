"""``labrecog serve``: the CDS Hooks service (docs/cds-hooks.md).

Starlette and uvicorn are imported only when the command runs, so the rest of the CLI
works without the ``server`` extra. The rule set is loaded, and the feedback store
opened, before the port is bound: an invalid rule set or an unusable store exits 2
without ever listening.
"""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING, Any, cast

import click

from labrecog.cli.common import EXIT_RULES, load_engine

if TYPE_CHECKING:
    from labrecog.server._card_text import CardSet

__all__ = ["serve"]

EXIT_SETUP = EXIT_RULES  # a missing extra or an unusable store: 2, like a bad rule set


@click.command()
@click.option(
    "--rules",
    "rules_path",
    required=True,
    type=click.Path(),
    envvar="LABRECOG_RULES",
    help="Rule set folder or file, loaded once at start.",
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
    help="Allowed browser origin (repeatable); default: any origin (*).",
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
    rules_path: str,
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

        from labrecog.server import configure_logging, create_app, open_feedback_store
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
    engine = load_engine(rules_path, lang)  # exits EXIT_RULES (2) on an invalid rule set
    institution: dict[str, Any] | None = None
    if institution_id is not None:
        institution = {"id": institution_id}
        if region is not None:
            institution["region"] = region
        if level is not None:
            institution["level"] = level
    postgres = feedback_db.startswith(("postgresql://", "postgres://"))
    try:
        store = open_feedback_store(feedback_db)
    except Exception as exc:  # never echo the URL: it may hold a password
        target = "PostgreSQL" if postgres else feedback_db
        click.echo(f"cannot open the feedback store ({target}): {type(exc).__name__}", err=True)
        sys.exit(EXIT_SETUP)
    configure_logging(log_level)
    app = create_app(
        engine,
        feedback_store=store,
        institution=institution,
        max_body_bytes=max_body,
        cors_origins=cors_origins or ("*",),
        fetch_limits=FetchLimits(servers=fhir_servers, max_bytes=max_body),
        cards=cast("CardSet", card_set),
    )
    rules = engine.rules
    log_event(
        "starting",
        ruleset=f"{rules.id} {rules.version}",
        digest=rules.digest,
        lang=engine.lang,
        feedback_store="postgresql" if postgres else "sqlite",
        institution=institution_id,
        host=host,
        port=port,
        cards=card_set,
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


class _Stopped(Exception):
    """SIGTERM, replayed by uvicorn after its graceful shutdown."""


def _stop(signum: int, frame: object) -> None:
    raise _Stopped
