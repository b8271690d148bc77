"""services.citizen_import: encodings, header, row errors, duplicates, idempotent upsert."""

from __future__ import annotations

import codecs
import csv
import io
from datetime import date

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bench.generate_citizens import (
    BAD_KINDS,
    COLUMNS,
    MOBILE_PREFIXES,
    rows,
    rows_with_bad,
    to_cp1258,
)
from idp.extensions import db
from idp.models import AuditEvent, Citizen, CitizenStatus, TotpCredential
from idp.services import audit
from idp.services import citizen_import as ci
from idp.services import identifiers as ids
from idp.services.citizen_import import ImportLimits, ImportRefused
from idp.services.clock import utcnow

HEADER = ",".join(COLUMNS)
AN = "019085000123,Nguyễn Văn Ánh,1985-03-12,male,0912000123,an@example.com,05719"
BINH = "019190000456,Trần Thị Bình,12/07/1990,female,+84 912 000 456,,05443"
CHI = "006301000789,Lường Thị Chí,2001-01-01,,0383000789,,05719"


def csv_bytes(*lines: str, encoding: str = "utf-8") -> bytes:
    text = "\n".join(lines) + "\n"
    return text.encode(encoding)


def run(app: Flask, data: bytes, **kwargs) -> ci.ImportResult:
    now = utcnow()
    with app.app_context():
        return ci.import_csv(db.session, io.BytesIO(data), today=now.date(), now=now,
                             actor_type="system", actor_id="test", **kwargs)


def citizens(app: Flask) -> dict[str, Citizen]:
    with app.app_context():
        found = {c.cccd: c for c in db.session.scalars(select(Citizen))}
        for c in found.values():
            db.session.expunge(c)
        return found


def audit_actions(app: Flask) -> list[tuple[str, str, dict]]:
    with app.app_context():
        return [(e.action, e.outcome, e.details) for e in
                db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def refused(app: Flask, data: bytes, **kwargs) -> str:
    with pytest.raises(ImportRefused) as caught:
        run(app, data, **kwargs)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Citizen)) == 0
    assert audit_actions(app) == []
    return ci._english(caught.value.message)


# --- Encodings ------------------------------------------------------------------------------

def test_utf8_file_is_imported(app):
    result = run(app, csv_bytes(HEADER, AN, BINH, CHI))
    assert (result.rows, result.created, result.error_rows) == (3, 3, 0)
    assert result.encoding == "UTF-8"
    people = citizens(app)
    an = people["019085000123"]
    assert an.full_name == "Nguyễn Văn Ánh" and an.name_folded == "nguyen van anh"
    assert an.phone == "+84912000123" and an.email == "an@example.com"
    assert an.birthdate == date(1985, 3, 12) and an.gender == "male"
    assert an.password_hash is None and an.identity_level == 1
    assert an.status == CitizenStatus.ACTIVE and an.commune_code == "05719"
    binh = people["019190000456"]
    assert binh.birthdate == date(1990, 7, 12) and binh.phone == "+84912000456"
    assert binh.email is None
    assert people["006301000789"].gender == "female"  # derived from the CCCD


def test_utf8_with_bom(app):
    result = run(app, codecs.BOM_UTF8 + csv_bytes(HEADER, AN))
    assert result.created == 1 and result.encoding == "UTF-8 (BOM)"


def test_windows_1258_file(app):
    data = b"\r\n".join([HEADER.encode(), to_cp1258(AN), to_cp1258(BINH), to_cp1258(CHI)])
    assert b"Nguy\xea\xden" in data  # e-circumflex, then the tilde as a combining mark
    result = run(app, data)
    assert (result.created, result.error_rows, result.encoding) == (3, 0, "Windows-1258")
    people = citizens(app)
    assert people["019085000123"].full_name == "Nguyễn Văn Ánh"  # NFC, as typed in UTF-8
    assert people["006301000789"].full_name == "Lường Thị Chí"
    assert people["006301000789"].name_folded == "luong thi chi"


def test_windows_1258_gender_in_vietnamese(app):
    row = "019190000456,Trần Thị Bình,1990-07-12,Nữ,0912000456,,05443"
    result = run(app, b"\n".join([HEADER.encode(), to_cp1258(row)]))
    assert result.created == 1


@pytest.mark.parametrize("data", [
    # Latin-1 (Western European): decodable as Windows-1258 but not Vietnamese text.
    csv_bytes(HEADER, "019085000123,Jürgen Müller,1985-03-12,male,0912000123,,05719",
              encoding="latin-1"),
    # A stray combining mark (0xEC after a consonant) is no Vietnamese either.
    HEADER.encode() + b"\n019085000123,Ng\xecuyen,1985-03-12,male,0912000123,,05719\n",
    # Bytes Windows-1258 leaves undefined.
    HEADER.encode() + b"\n\x81\x8d\x8e\x8f\x90\n",
], ids=["latin-1", "stray-mark", "undefined-bytes"])
def test_other_encodings_are_refused(app, data):
    assert "UTF-8 or Windows-1258" in refused(app, data)


def test_utf16_is_refused(app):
    assert "UTF-16" in refused(app, csv_bytes(HEADER, AN, encoding="utf-16"))


def test_binary_garbage_is_refused(app):
    message = refused(app, HEADER.encode() + b"\n" + bytes(range(0, 32)) * 4)
    assert "control characters" in message or "UTF-8 or Windows-1258" in message


def test_empty_file_is_refused(app):
    assert "empty" in refused(app, b"")


# --- Header ---------------------------------------------------------------------------------

def test_columns_in_any_order_case_and_spaces(app):
    header = " Phone ,CCCD,Full Name,birthdate,GENDER,email,commune_code"
    row = "0912000123,019085000123,Nguyễn Văn Ánh,1985-03-12,male,,05719"
    assert run(app, csv_bytes(header, row)).created == 1


@pytest.mark.parametrize(("header", "expected"), [
    ("cccd,full_name,birthdate,gender,phone,email", "missing columns: commune_code"),
    (HEADER + ",note", "unknown columns: note"),
    ("cccd,name,birthdate,gender,phone,email,commune_code",
     "missing columns: full_name; unknown columns: name"),
    (HEADER + ",cccd", "repeated columns: cccd"),
])
def test_wrong_columns_refused_nothing_written(app, header, expected):
    message = refused(app, csv_bytes(header, AN))
    assert "first row must name exactly these columns" in message and expected in message


def test_header_problems_are_named(app):
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        with pytest.raises(ImportRefused) as caught:
            ci.inspect(io.BytesIO(csv_bytes("cccd,name,birthdate,gender,phone,email", AN)))
        text = str(caught.value)
    assert "commune_code" in text and "full_name" in text and "name" in text


# --- Limits ---------------------------------------------------------------------------------

def test_file_over_size_limit_refused(app):
    data = csv_bytes(HEADER, AN, BINH)
    assert "too large" in refused(app, data, limits=ImportLimits(max_bytes=len(data) - 1))


def test_file_over_row_limit_refused(app):
    assert "too many rows" in refused(app, csv_bytes(HEADER, AN, BINH, CHI),
                                      limits=ImportLimits(max_rows=2))


def test_overlong_line_refused(app):
    long_row = AN.replace("an@example.com", "a" * 3000 + "@example.com")
    assert "too long" in refused(app, csv_bytes(HEADER, AN, long_row))


# --- Rows -----------------------------------------------------------------------------------

def test_bad_rows_reported_good_rows_imported(app):
    data = csv_bytes(
        HEADER, AN,
        "01908500012,Nguyễn Văn Ba,1985-03-12,male,0912000124,,05719",      # 11 digits
        "019085000125,Lê Văn 3,1984-03-12,male,0912000125,,05719",          # name, year
        BINH,
        "019085000126,Phạm Văn Dũng,1985-03-12,male,02083851234,x@@y,99999",  # 3 columns
        "019085000127,Phạm Văn Em,1985-03-12,male",                           # too few values
        CHI,
    )
    report = io.StringIO()
    result = run(app, data, report=report)
    assert (result.rows, result.created, result.error_rows) == (7, 3, 4)
    found = {(e.row, e.column) for e in result.errors}
    assert found == {(3, "cccd"), (4, "full_name"), (4, "birthdate"), (6, "phone"),
                     (6, "email"), (6, "commune_code"), (7, "")}
    assert set(citizens(app)) == {"019085000123", "019190000456", "006301000789"}
    lines = list(csv.reader(io.StringIO(report.getvalue())))
    assert lines[0] == ["row", "column", "reason", "reason_en"]
    assert ["3", "cccd", "Số CCCD phải có đúng 12 chữ số.",
            "The citizen ID number (CCCD) must have exactly 12 digits."] in lines
    (action, outcome, details), = audit_actions(app)
    assert (action, outcome) == ("staff:citizens:imported", "success")
    assert details["created"] == 3 and details["error_rows"] == 4


def test_error_reason_in_english_when_asked(app):
    result = run(app, csv_bytes(HEADER, AN.replace("05719", "00004")))
    error, = result.errors
    assert error.column == "commune_code"
    assert error.reason_en() == "Please choose a commune or ward in Thái Nguyên."
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert error.reason() == "Please choose a commune or ward in Thái Nguyên."
    with app.app_context():
        assert error.reason() == "Vui lòng chọn một xã/phường thuộc Thái Nguyên."


def test_duplicate_rows_in_file(app):
    other = AN.replace("Nguyễn Văn Ánh", "Nguyễn Văn Ánh Hai").replace("0912000123", "0912999999")
    result = run(app, csv_bytes(HEADER, AN, BINH, AN, other))
    assert (result.created, result.error_rows) == (2, 2)
    assert [(e.row, e.column) for e in result.errors] == [(4, "cccd"), (5, "cccd")]
    assert citizens(app)["019085000123"].full_name == "Nguyễn Văn Ánh"  # the first row wins


def test_same_phone_twice_in_file(app):
    result = run(app, csv_bytes(HEADER, AN, BINH.replace("+84 912 000 456", "0912000123")))
    assert result.created == 1
    assert [(e.row, e.column) for e in result.errors] == [(3, "phone")]


def test_same_phone_in_a_later_chunk(app):
    later = BINH.replace("+84 912 000 456", "0912000123")
    result = run(app, csv_bytes(HEADER, AN, CHI, later), limits=ImportLimits(chunk_rows=1))
    assert result.created == 2
    assert [(e.row, e.column) for e in result.errors] == [(4, "phone")]


def test_phone_of_another_citizen_is_an_error(app, make_citizen):
    make_citizen(cccd="019085999999", phone="0912000123")
    result = run(app, csv_bytes(HEADER, AN, BINH))
    assert result.created == 1
    error, = result.errors
    assert (error.row, error.column) == (2, "phone")
    assert error.reason_en() == "This phone number is already used by another citizen."


def test_rerun_changes_nothing(app):
    data = csv_bytes(HEADER, AN, BINH, CHI, "bad,row,,,,,")
    first = run(app, data)
    before = {c: (p.id, p.updated_at) for c, p in citizens(app).items()}
    second = run(app, data)
    assert (first.created, first.error_rows) == (3, 1)
    assert (second.created, second.updated, second.unchanged, second.error_rows) == (0, 0, 3, 1)
    assert {c: (p.id, p.updated_at) for c, p in citizens(app).items()} == before


IDENTITY_REFUSAL = ("This citizen was checked in person or has activated the account: "
                    "changed identity data needs an in-person check at the commune office.")
PHONE_REFUSAL = ("This citizen has activated the account or verified the phone number: the "
                 "phone number is the account's recovery channel and only the citizen can "
                 "change it.")


def updated_entries(app: Flask) -> list[tuple[object, str, dict]]:
    with app.app_context():
        return [(e.citizen_id, e.actor_id, e.details) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == ci.AUDIT_UPDATED)
            .order_by(AuditEvent.id))]


def test_level_2_citizen_name_change_is_refused_and_untouched(app, make_citizen):
    # Checked in person, never activated: still protected (verified_claims assert the name).
    existing = make_citizen(password=None, cccd="019085000123", full_name="Nguyễn Văn Ánh",
                            phone="0912000123", identity_level=2)
    renamed = AN.replace("Nguyễn Văn Ánh", "Nguyễn Văn Bảo").replace("1985-03-12", "1985-03-13")
    result = run(app, csv_bytes(HEADER, renamed))
    assert (result.updated, result.unchanged, result.error_rows) == (0, 0, 1)
    assert {(e.row, e.column, e.reason_en()) for e in result.errors} == {
        (2, "full_name", IDENTITY_REFUSAL), (2, "birthdate", IDENTITY_REFUSAL)}
    after = citizens(app)["019085000123"]
    assert (after.full_name, after.birthdate, after.email, after.updated_at) == (
        existing.full_name, existing.birthdate, existing.email, existing.updated_at)
    assert updated_entries(app) == []
    with app.test_request_context():  # Vietnamese first
        assert result.errors[0].reason() != IDENTITY_REFUSAL


def test_activated_citizen_phone_change_is_refused(app, make_citizen):
    existing = make_citizen(cccd="019085000123", full_name="Nguyễn Văn Ánh",
                            phone="0912000999")
    assert existing.password_hash is not None
    result = run(app, csv_bytes(HEADER, AN))
    assert (result.updated, result.error_rows) == (0, 1)
    error, = result.errors
    assert (error.row, error.column, error.reason_en()) == (2, "phone", PHONE_REFUSAL)
    after = citizens(app)["019085000123"]
    assert (after.phone, after.email) == ("+84912000999", None)
    assert updated_entries(app) == []


def test_verified_phone_citizen_identity_change_is_refused(app, make_citizen):
    existing = make_citizen(password=None, cccd="019085000123", phone="0912000123")
    with app.app_context():
        db.session.get(Citizen, existing.id).phone_verified_at = utcnow()
        db.session.commit()
    result = run(app, csv_bytes(HEADER, AN))  # "Nguyễn Văn An" -> "Nguyễn Văn Ánh"
    assert result.error_rows == 1 and result.errors[0].column == "full_name"
    assert citizens(app)["019085000123"].full_name == "Nguyễn Văn An"


def test_protected_citizen_may_get_new_email_and_commune(app, make_citizen):
    existing = make_citizen(cccd="019085000123", full_name="Nguyễn Văn Ánh",
                            phone="0912000123", identity_level=2, commune_code="05443")
    with app.app_context():
        db.session.add(TotpCredential(citizen_id=existing.id, secret_sealed=b"sealed",
                                      confirmed_at=utcnow()))
        db.session.get(Citizen, existing.id).status = CitizenStatus.LOCKED
        db.session.get(Citizen, existing.id).phone_verified_at = utcnow()
        db.session.commit()
    result = run(app, csv_bytes(HEADER, AN))
    assert (result.created, result.updated, result.error_rows) == (0, 1, 0)
    after = citizens(app)["019085000123"]
    assert after.id == existing.id
    assert (after.email, after.commune_code) == ("an@example.com", "05719")
    assert after.password_hash == existing.password_hash is not None
    assert after.identity_level == 2 and after.status == CitizenStatus.LOCKED
    assert after.phone_verified_at is not None
    with app.app_context():
        assert db.session.scalar(select(TotpCredential.citizen_id)) == existing.id
    assert updated_entries(app) == [(existing.id, "test", {"fields": ["email", "commune_code"]})]
    assert run(app, csv_bytes(HEADER, AN)).unchanged == 1


def test_untouched_imported_citizen_is_updated_with_an_audit_entry(app):
    run(app, csv_bytes(HEADER, AN, BINH))
    before = citizens(app)["019085000123"]
    changed = AN.replace("Nguyễn Văn Ánh", "Nguyễn Văn Bảo").replace("0912000123", "0912000777")
    result = run(app, csv_bytes(HEADER, changed, BINH))
    assert (result.updated, result.unchanged, result.error_rows) == (1, 1, 0)
    after = citizens(app)["019085000123"]
    assert (after.full_name, after.name_folded, after.phone) == (
        "Nguyễn Văn Bảo", "nguyen van bao", "+84912000777")
    assert after.phone_verified_at is None and after.password_hash is None
    assert after.identity_level == 1
    entries = updated_entries(app)
    assert entries == [(before.id, "test", {"fields": ["full_name", "phone"]})]
    assert "Bảo" not in str(entries) and "0912000777" not in str(entries)
    with app.app_context():
        assert audit.verify_chain(db.session)[1] is None


def test_citizen_activating_between_check_and_write_is_not_overwritten(app, monkeypatch):
    run(app, csv_bytes(HEADER, AN, BINH))
    an = AN.replace("Nguyễn Văn Ánh", "Nguyễn Văn Bảo")
    binh = BINH.replace("Trần Thị Bình", "Trần Thị Bích")
    lookup = ci._Writer._existing

    def activate_after_lookup(self, cccds):  # Ánh activates; Bình does not
        found = lookup(self, cccds)
        table = Citizen.__table__
        self.session.execute(table.update().where(table.c.cccd == "019085000123")
                             .values(password_hash="x"))
        return found

    monkeypatch.setattr(ci._Writer, "_existing", activate_after_lookup)
    result = run(app, csv_bytes(HEADER, an, binh))
    assert (result.updated, result.error_rows) == (1, 1)
    error, = result.errors
    assert (error.row, error.column, error.reason_en()) == (2, "full_name", IDENTITY_REFUSAL)
    people = citizens(app)
    assert people["019085000123"].full_name == "Nguyễn Văn Ánh"
    assert people["019190000456"].full_name == "Trần Thị Bích"
    assert updated_entries(app) == [(people["019190000456"].id, "test",
                                     {"fields": ["full_name"]})]


def test_interrupted_run_leaves_a_failure_summary(app, monkeypatch):
    calls = []
    write = ci._Writer.write

    def failing_write(self, rows, sink, result):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return write(self, rows, sink, result)

    monkeypatch.setattr(ci._Writer, "write", failing_write)
    with pytest.raises(OSError):
        run(app, csv_bytes(HEADER, AN, BINH, CHI), limits=ImportLimits(chunk_rows=1),
            reason="Tải danh sách xã")
    assert set(citizens(app)) == {"019085000123"}  # the first chunk stays
    (action, outcome, details), = audit_actions(app)
    assert (action, outcome) == (ci.AUDIT_ACTION, "failure")
    assert (details["rows"], details["created"], details["stopped"]) == (1, 1, "OSError")
    assert details["reason"] == "Tải danh sách xã"


def test_dry_run_writes_nothing(app):
    result = run(app, csv_bytes(HEADER, AN, BINH, AN), dry_run=True)
    assert (result.created, result.error_rows, result.dry_run) == (2, 1, True)
    assert citizens(app) == {} and audit_actions(app) == []


def test_blank_lines_are_skipped_and_rows_numbered_as_in_the_file(app):
    result = run(app, csv_bytes(HEADER, "", AN, "", "x,y,z,1,2,3,4"))
    assert result.created == 1 and [e.row for e in result.errors][0] == 5


def test_worker_processes_give_the_same_result(app):
    data = io.StringIO()
    from bench.generate_citizens import write_csv
    write_csv(data, 120, bad=13, seed=5)
    result = run(app, data.getvalue().encode(), workers=2, limits=ImportLimits(chunk_rows=40))
    assert (result.created, result.error_rows) == (120, 13)


# --- The generator --------------------------------------------------------------------------

def test_generated_rows_pass_validation():
    today = date(2026, 6, 1)
    order = tuple(range(len(COLUMNS)))
    seen_cccd, seen_phone = set(), set()
    for line, row in enumerate(rows(3000, seed=11, today=today), start=2):
        _, valid, errors = ci.check_row(line, list(row), order, today)
        assert errors == [], (row, errors)
        assert valid is not None
        assert ids.normalize_full_name(row[1]) == valid[1]
        assert ids.fold_name(valid[1]) == valid[2]
        assert ids.normalize_phone(row[4]) == valid[5]
        seen_cccd.add(valid[0])
        seen_phone.add(valid[5])
    assert len(seen_cccd) == len(seen_phone) == 3000


def test_generated_bad_rows_fail_in_the_named_column():
    today = date(2026, 6, 1)
    order = tuple(range(len(COLUMNS)))
    columns = dict(BAD_KINDS)
    for line, (row, kind) in enumerate(rows_with_bad(200, len(BAD_KINDS), seed=3, today=today)):
        _, valid, errors = ci.check_row(line, list(row), order, today)
        if kind is None or kind == "duplicate_cccd":  # a duplicate is only caught in context
            assert errors == []
            continue
        assert columns[kind] in {e[0] for e in errors}, (kind, row, errors)


def test_every_mobile_prefix_is_mobile():
    for prefix in MOBILE_PREFIXES:
        for rest in ("0000000", "5555555", "9999999", "1234567"):
            assert ids.normalize_phone(f"0{prefix}{rest}") == f"+84{prefix}{rest}"


# --- The phone shortcut is normalize_phone ---------------------------------------------------

_digits = st.text("0123456789", min_size=9, max_size=9)


@settings(max_examples=3000, deadline=None)
@given(prefix=st.sampled_from(["0", "+84", " 0", "+84 ", "0 "]), nsn=_digits,
       spaces=st.lists(st.integers(0, 9), max_size=3))
def test_fast_phone_accepts_exactly_what_normalize_phone_accepts(prefix, nsn, spaces):
    digits = list(nsn)
    for position in sorted(spaces, reverse=True):
        digits.insert(position, " ")
    raw = prefix + "".join(digits)
    fast = ci._fast_phone(raw)
    try:
        slow = ids.normalize_phone(raw)
    except ids.InvalidInput:
        slow = None
    if fast is not None:
        assert fast == slow
    elif slow is not None:
        # The shortcut may decline only what it does not handle: a national number that
        # starts with 0 (libphonenumber then reads "00" as an international prefix).
        assert nsn.startswith("0")


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=20))
def test_fast_phone_never_accepts_what_normalize_phone_refuses(raw):
    fast = ci._fast_phone(raw)
    if fast is not None:
        assert ids.normalize_phone(raw) == fast


def test_compact_int_set(monkeypatch):
    monkeypatch.setattr(ci._IntSet, "_MERGE_AT", 7)
    numbers = ci._IntSet()
    added = [19_085_000_000 + (i * 7919) % 1000 for i in range(100)]
    for n in added:
        numbers.add(n)
    assert all(n in numbers for n in added)
    assert not any(n in numbers for n in range(19_085_000_000 + 1000, 19_085_000_000 + 1100))
    assert len(numbers.sorted) > 0  # merged at least once


def test_someone_registering_during_an_import_into_an_empty_table(app, make_citizen):
    made = []

    def progress(_rows: int) -> None:  # after the first chunk: a sign-up takes Bình's phone
        if not made:
            made.append(make_citizen(cccd="019085777777", phone="0912000456"))

    result = run(app, csv_bytes(HEADER, AN, BINH, CHI), progress=progress,
                 limits=ImportLimits(chunk_rows=1))
    assert (result.created, result.error_rows) == (2, 1)
    error, = result.errors
    assert (error.row, error.column) == (3, "phone")
    assert set(citizens(app)) == {"019085000123", "019085777777", "006301000789"}


def test_new_ids_are_time_ordered_uuid7_with_unpredictable_random_bits(app):
    import uuid

    ids_ = [ci._uuid7_int() for _ in range(10_000)]
    assert len(set(ids_)) == 10_000
    assert {uuid.UUID(int=i).version for i in ids_} == {7}
    assert {uuid.UUID(int=i).variant for i in ids_} == {uuid.RFC_4122}
    millis = [i >> 80 for i in ids_]
    assert millis == sorted(millis)  # ordered by time; random within one millisecond
    # Neighbours share nothing beyond the time: no counter an app could step along.
    assert all(abs((b & ((1 << 62) - 1)) - (a & ((1 << 62) - 1))) > 1
               for a, b in zip(ids_, ids_[1:], strict=False))
    run(app, csv_bytes(HEADER, AN, BINH))
    people = citizens(app)
    assert people["019085000123"].id.version == 7


def test_runaway_quoted_value_is_a_row_error(app):
    runaway = '019085000999,"' + "\n".join(["x" * 1000] * 200)  # never closed, ~200 kB
    result = run(app, csv_bytes(HEADER, AN, runaway, BINH))
    # The lines after the runaway value are read as rows again: each is reported, none stops
    # the import.
    assert result.created == 2 and result.error_rows >= 1
    assert {e.column for e in result.errors} == {""}
