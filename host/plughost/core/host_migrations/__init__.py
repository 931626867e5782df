"""The host's own revisions (track ``plughost``, version table ``plughost_alembic_version``)."""
