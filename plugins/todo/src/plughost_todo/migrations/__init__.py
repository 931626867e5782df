"""plughost-todo's schema revisions (version table ``todo_alembic_version``)."""
