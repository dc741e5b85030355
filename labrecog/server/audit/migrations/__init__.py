"""The audit store's Alembic environment: every schema change is a revision in ``versions/``.

labrecog runs them itself (:func:`labrecog.server.audit.upgrade_store`, called by every
store on open, and by ``labrecog audit --migrate``); ``env.py`` uses the connection it is
handed, inside the transaction that holds the store's write lock. A new revision: copy
the newest file in ``versions/``, set ``down_revision`` to its ``revision``, and change
``_schema.py`` to match (tests/test_audit_store.py compares the two).
"""
