"""The revisions, oldest first by their numbers (Alembic follows ``down_revision``)."""
