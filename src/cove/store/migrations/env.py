"""Alembic environment: run migrations against the URL the Store passes in."""

from alembic import context
from sqlalchemy import create_engine

from cove.store.models import Base

url = str(
    context.config.attributes.get("connection_url")
    or context.config.get_main_option("sqlalchemy.url")
)
engine = create_engine(url)  # (the Store passes SQLAlchemy's form of its URL)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
