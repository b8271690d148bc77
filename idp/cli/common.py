"""Helpers shared by the ``tnid`` subcommands."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import click
from flask import Flask


def build_app() -> Flask:
    from idp import create_app

    return create_app()


def with_app(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run the command inside an app context built from the TNID_* environment."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError

        from idp.extensions import db

        app = build_app()
        with app.app_context():
            try:
                return func(app, *args, **kwargs)
            except (OperationalError, ProgrammingError) as error:
                db.session.rollback()
                if "no such table" in str(error.orig) or "does not exist" in str(error.orig):
                    fail("The database has no schema yet: run `tnid init` first.")
                fail(f"The database is unreachable ({type(error.orig).__name__}).")
            except SQLAlchemyError as error:
                db.session.rollback()
                fail(f"Database error ({type(error).__name__}); nothing was changed.")
            finally:  # close connections now, not whenever the garbage collector runs
                db.session.remove()
                db.engine.dispose()

    return wrapper


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def fail(message: str) -> None:
    """Stop with a one-line message and exit code 1."""
    raise click.ClickException(message)
