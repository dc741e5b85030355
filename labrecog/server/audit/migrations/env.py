"""Alembic's environment for the audit store.

labrecog hands it an open connection (``config.attributes["connection"]``) already inside
the transaction that holds the store's write lock, so concurrent openers migrate one at a
time and a failed migration leaves nothing half done. With a ``sqlalchemy.url`` instead
(the ``alembic`` command, e.g. ``--sql`` to hand a DBA the PostgreSQL script) it connects
itself.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from labrecog.server.audit._schema import METADATA, VERSION_TABLE

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=METADATA,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=METADATA,
        version_table=VERSION_TABLE,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
    else:
        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("no connection given and no sqlalchemy.url configured")
        with create_engine(url).begin() as connection:
            _run(connection)
