"""plughost-crm's schema revisions (version table ``crm_alembic_version``)."""
