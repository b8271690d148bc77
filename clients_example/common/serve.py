"""Running one example app from the command line: ``python -m clients_example.portal``.

The provider's settings come from the same TNID_* environment ``tnid`` reads (the app runs
``tnid clients create`` with it at start-up).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from flask import Flask

from clients_example.common.registration import RegistrationError
from clients_example.common.rp import Settings

ROOT = Path(__file__).resolve().parents[2]


def main(key: str, default_port: int, factory: Callable[[Settings], Flask]) -> int:
    parser = argparse.ArgumentParser(description=f"ThaiNguyen ID example app: {key}")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--issuer", default=os.environ.get("TNID_ISSUER",
                                                           "http://127.0.0.1:5000"))
    parser.add_argument("--instance", type=Path, default=ROOT / "instance" / "clients" / key,
                        help="folder for the app's key, secret and SQLite store")
    args = parser.parse_args()
    base_url = f"http://{args.host}:{args.port}"
    try:
        app = factory(Settings(issuer=args.issuer.rstrip("/"), base_url=base_url,
                               instance_path=args.instance))
    except RegistrationError as error:
        print(f"{key}: registration with ThaiNguyen ID failed: {error}", flush=True)
        return 1
    print(f"{key} on {base_url}/  (client_id {app.extensions['rp'].registration.client_id})",
          flush=True)
    app.run(host=args.host, port=args.port, debug=False, use_reloader=False, threaded=True)
    return 0
