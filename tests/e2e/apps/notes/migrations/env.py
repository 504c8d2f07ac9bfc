"""Alembic environment for Flask-Migrate: the app's engine and models."""

from logging.config import fileConfig

from alembic import context
from flask import current_app

fileConfig(context.config.config_file_name)

database = current_app.extensions["migrate"].db


def run_migrations_online():
    with database.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=database.metadata)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
