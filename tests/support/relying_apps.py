"""The example relying apps of clients_example/ served on free loopback ports next to a live
provider, as `make demo` runs them (same code: each app registers itself with the real
`tnid clients create` at start-up, against the suite's database)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

from clients_example import health, market, portal
from clients_example.common.rp import Settings

FACTORIES: dict[str, Callable[[Settings], Flask]] = {
    "portal": portal.create_app, "health": health.create_app, "market": market.create_app,
}


@dataclass
class ServedApp:
    key: str
    url: str
    app: Flask


@contextmanager
def serve_app(key: str, *, issuer: str, instance: Path,
              provider_env: dict[str, Any]) -> Iterator[ServedApp]:
    """Bind a free port first (the app registers its own address), then build the app."""
    holder: dict[str, Flask] = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start),
                         threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    env = {name: str(value) for name, value in provider_env.items()} | {"TNID_ISSUER": issuer}
    holder["app"] = FACTORIES[key](Settings(issuer=issuer, base_url=url,
                                            instance_path=instance, tnid_env=env))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ServedApp(key, url, holder["app"])
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
