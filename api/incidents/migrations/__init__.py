"""The incident database's schema migrations (Alembic), applied by `misper db upgrade` and at start-up."""
