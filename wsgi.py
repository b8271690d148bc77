"""WSGI entry point: ``gunicorn wsgi:app``. The only module-level app in the project."""

import sys

from idp import create_app
from idp.config import ConfigError

try:
    app = create_app()
except ConfigError as error:  # one line for the operator, not a traceback
    sys.exit(f"ThaiNguyen ID refuses to start: {error}")
