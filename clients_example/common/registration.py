"""Registering an example app with ThaiNguyen ID at start-up, idempotently, through the
provider's own command: ``tnid clients create --client-id ID --if-not-exists --json``.

A fixed client_id makes a restart find the app it registered before. The client secret is
shown by ``tnid`` only when it is made, so the app keeps it in its instance folder (mode
0600); if the app is registered but the secret is lost, ``tnid clients rotate-secret`` gives
a new one. An app registered earlier with other addresses (other ports) is reported, not
silently changed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SECRET_METHODS = ("client_secret_basic", "client_secret_post")


class RegistrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Registration:
    client_id: str
    client_secret: str | None
    metadata: dict


def default_tnid_command() -> list[str]:
    """The ``tnid`` next to this Python (the project's virtualenv), else the one on PATH."""
    beside = Path(sys.executable).parent / "tnid"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("tnid")
    if found is None:
        raise RegistrationError("tnid command not found: install ThaiNguyen ID (make install)")
    return [found]


def register(*, client_id: str, name: str, name_en: str, base_url: str, scope: str,
             auth_method: str, instance: Path, subject_type: str = "public",
             sector: str | None = None, jwks_uri: str | None = None, trusted: bool = False,
             tnid: list[str] | None = None, env: dict[str, str] | None = None) -> Registration:
    callback = f"{base_url}/callback"
    args = ["clients", "create", "--client-id", client_id, "--if-not-exists", "--json",
            "--name", name, "--name-en", name_en, "--redirect-uri", callback,
            "--post-logout-redirect-uri", f"{base_url}/logged-out",
            "--backchannel-logout-uri", f"{base_url}/backchannel-logout",
            "--scope", scope, "--auth-method", auth_method]
    if jwks_uri:
        args += ["--jwks-uri", jwks_uri]
    if subject_type == "pairwise":
        args += ["--subject-type", "pairwise"] + (["--sector-identifier", sector] if sector
                                                  else [])
    if trusted:
        args.append("--trusted")
    command = tnid or default_tnid_command()
    data = _run(command + args, env)
    if data.get("redirect_uris") != [callback]:
        raise RegistrationError(
            f"client {client_id} is registered with other addresses "
            f"({', '.join(data.get('redirect_uris') or [])}); start the app on the same port, "
            "or use a fresh provider database")
    secret_file = instance / "client.json"
    secret = data.get("client_secret")
    if auth_method in SECRET_METHODS:
        if secret is None:
            saved = _read(secret_file)
            if saved.get("client_id") == client_id and saved.get("client_secret"):
                secret = saved["client_secret"]
            else:  # registered earlier, secret lost with the instance folder: a new one
                secret = _run(command + ["clients", "rotate-secret", client_id, "--json"],
                              env)["client_secret"]
        _write(secret_file, {"client_id": client_id, "client_secret": secret})
    return Registration(client_id=client_id, client_secret=secret, metadata=data)


def _run(command: list[str], env: dict[str, str] | None) -> dict:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                                env={**os.environ, **(env or {})}, check=False)
    except OSError as error:
        raise RegistrationError(f"cannot run {command[0]}: {error}") from None
    if result.returncode != 0:
        raise RegistrationError(f"{' '.join(command[:4])}... failed: "
                                f"{(result.stderr or result.stdout).strip()}")
    return json.loads(result.stdout)


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(data, file)
