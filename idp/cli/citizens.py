"""``tnid citizens create|show|list|import``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from flask import Flask
from sqlalchemy import select

from idp.cli.common import echo_json, fail, with_app
from idp.extensions import db
from idp.models import Citizen, CitizenStatus
from idp.services import accounts, citizen_import
from idp.services.citizen_import import ImportLimits, ImportRefused
from idp.services.clock import utcnow
from idp.services.identifiers import InvalidInput, normalize_commune_code
from idp.web import deps


@click.group()
def citizens() -> None:
    """Citizen accounts."""


def read_password_stdin() -> str:
    """One line from standard input; only the line break is removed (spaces count)."""
    line = sys.stdin.readline()
    return line[:-1].rstrip("\r") if line.endswith("\n") else line


@citizens.command("create")
@click.option("--cccd", required=True, help="12-digit citizen ID number.")
@click.option("--name", "full_name", required=True, help="Full name, with diacritics.")
@click.option("--phone", required=True, help="Vietnamese mobile number, any common format.")
@click.option("--birthdate", required=True, help="YYYY-MM-DD (or dd/mm/yyyy).")
@click.option("--email", default=None)
@click.option("--gender", type=click.Choice(["male", "female"]), default=None,
              help="Checked against the CCCD; derived from it when omitted.")
@click.option("--commune", "commune_code", default=None, help="Commune/ward code, e.g. 05719.")
@click.option("--level", "identity_level", type=click.Choice(["1", "2"]), default="1",
              show_default=True, help="Identity level: 2 = verified in person.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input. Without it the account has no "
                   "password until the citizen activates it.")
@click.option("--json", "as_json", is_flag=True, help="Print the new account as JSON.")
@with_app
def create(app: Flask, password_stdin: bool, as_json: bool, **fields: Any) -> None:
    """Create a citizen account. Nothing is written if any value is invalid."""
    password = read_password_stdin() if password_stdin else None
    data = accounts.NewCitizen(**fields)
    try:
        citizen = accounts.create_citizen(
            db.session, data, passwords=deps.passwords(), password=password,
            today=utcnow().date(),
        )
        db.session.commit()
    except InvalidInput as error:
        db.session.rollback()
        fail(f"{error.field}: {error.message}")
    if as_json:
        echo_json(_public(citizen))
    else:
        click.echo(f"Created citizen {citizen.id} ({citizen.full_name}).")


@citizens.command("show")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True)
@with_app
def show(app: Flask, key: str, as_json: bool) -> None:
    """Show one citizen by CCCD, phone number or internal id."""
    citizen = accounts.find_by_any(db.session, key)
    if citizen is None:
        fail("No citizen with that CCCD, phone number or id.")
    data = _public(citizen)
    if as_json:
        echo_json(data)
        return
    for name, value in data.items():
        click.echo(f"{name:15} {value if value is not None else '-'}")


@citizens.command("list")
@click.option("--commune", "commune_code", default=None)
@click.option("--status", type=click.Choice([s.value for s in CitizenStatus]), default=None)
@click.option("--level", type=click.Choice(["1", "2"]), default=None)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@with_app
def list_(app: Flask, commune_code: str | None, status: str | None, level: str | None,
          limit: int, as_json: bool) -> None:
    """List citizens, newest first."""
    query = select(Citizen).order_by(Citizen.created_at.desc(), Citizen.id).limit(limit)
    if commune_code:
        try:
            commune_code = normalize_commune_code(commune_code)
        except InvalidInput as error:
            fail(f"commune: {error.message}")
        query = query.where(Citizen.commune_code == commune_code)
    if status:
        query = query.where(Citizen.status == CitizenStatus(status))
    if level:
        query = query.where(Citizen.identity_level == int(level))
    rows = [_public(c) for c in db.session.scalars(query)]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['id']}  {row['cccd']}  {row['phone']}  L{row['identity_level']}  "
                   f"{row['status']:8}  {row['full_name']}")
    click.echo(f"{len(rows)} citizen(s).", err=True)


@citizens.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--errors-report", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              default=None, help="Write every bad row (row, column, reason) to this CSV file.")
@click.option("--dry-run", is_flag=True, help="Check everything, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--workers", type=click.IntRange(0, 64), default=None,
              help="Processes validating rows beside the writer (default: 1 on a machine "
                   "with 2 CPUs, 2 above; 0 = validate in the writer).")
@click.option("--max-rows", type=click.IntRange(1), default=ImportLimits.max_rows,
              show_default=True, help="Refuse files with more rows.")
@click.option("--max-mb", type=click.IntRange(1), default=ImportLimits.max_bytes // 1_048_576,
              show_default=True, help="Refuse larger files (MiB).")
@with_app
def import_(app: Flask, csv_file: Path, errors_report: Path | None, dry_run: bool,
            as_json: bool, workers: int | None, max_rows: int, max_mb: int) -> None:
    """Create or update citizens from a CSV file (upsert by CCCD).

    Columns, in any order: cccd, full_name, birthdate, gender, phone, email, commune_code.
    UTF-8 (with or without BOM) or Windows-1258. Bad rows are reported and skipped; the
    others are imported. Running the same file again changes nothing. Exit code 0 when the
    file was processed (even with bad rows), 1 when it was refused (nothing written).
    """
    limits = ImportLimits(max_rows=max_rows, max_bytes=max_mb * 1_048_576)
    if workers is None:
        workers = citizen_import.default_workers()
    now = utcnow()
    with csv_file.open("rb") as stream:
        try:
            inspection = citizen_import.inspect(stream, limits)
        except ImportRefused as refusal:
            citizen_import.record_refusal(db.session, refusal, actor_type="system",
                                          actor_id="cli", ip=None, now=now)
            db.session.commit()
            fail(f"{csv_file.name}: {refusal.message}")
        report = (errors_report.open("w", encoding="utf-8-sig", newline="")
                  if errors_report else None)
        # A progress bar for people at a terminal; nothing in pipes and logs.
        show = sys.stderr.isatty() and not as_json
        bar = click.progressbar(length=inspection.lines, label="Importing", file=sys.stderr,
                                show_pos=True, show_eta=True) if show else None
        try:
            if bar:
                bar.__enter__()
            result = citizen_import.import_csv(
                db.session, stream, today=now.date(), now=now, actor_type="system",
                actor_id="cli", limits=limits, dry_run=dry_run,
                workers=workers, report=report,
                progress=bar.update if bar else None, inspection=inspection)
        finally:
            if bar:
                bar.__exit__(None, None, None)
            if report:
                report.close()
    summary = result.summary()
    if as_json:
        echo_json({**summary, "first_errors": [
            {"row": e.row, "column": e.column, "reason": e.reason_en()}
            for e in result.errors[:20]]})
        return
    verb = "Checked" if dry_run else "Imported"
    click.echo(f"{verb} {csv_file.name} ({inspection.label}): {result.rows} rows — "
               f"{result.created} created, {result.updated} updated, "
               f"{result.unchanged} unchanged, {result.error_rows} with errors.")
    for error in result.errors[:10]:
        click.echo(f"  row {error.row}, {error.column or '-'}: {error.reason_en()}", err=True)
    if result.error_count > 10:
        more = f"{result.error_count - 10} more errors"
        click.echo(f"  ... {more}" + (f" in {errors_report}" if errors_report else
                                      " (use --errors-report FILE.csv)"), err=True)


def _public(citizen: Citizen) -> dict[str, Any]:
    return {
        "id": str(citizen.id), "cccd": citizen.cccd, "full_name": citizen.full_name,
        "birthdate": citizen.birthdate.isoformat(), "gender": citizen.gender,
        "phone": citizen.phone, "email": citizen.email, "commune_code": citizen.commune_code,
        "identity_level": citizen.identity_level, "status": citizen.status.value,
        "has_password": citizen.password_hash is not None,
        "created_at": citizen.created_at.isoformat(timespec="seconds"),
    }
