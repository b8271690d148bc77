"""Tests of idp.services.accounts against the real database (sqlite and postgresql)."""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from idp.extensions import db
from idp.models import Citizen, CitizenStatus
from idp.services import accounts
from idp.services.accounts import DuplicateAccount, NewCitizen
from idp.services.identifiers import InvalidInput
from idp.services.passwords import PasswordService
from tests.conftest import TEST_PASSWORD

TODAY = date(2025, 8, 15)
CCCD = "019085000001"
PHONE = "+84912345678"
VALID = NewCitizen(
    cccd=CCCD, full_name="Nguyễn Văn An", birthdate="1985-03-12", phone="0912345678",
    commune_code="05719",
)


def fast(time_cost: int = 1) -> PasswordService:
    return PasswordService(time_cost=time_cost, memory_kib=64, parallelism=1)


PASSWORDS = fast()


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(Citizen))


def create(data: NewCitizen = VALID, password: str | None = TEST_PASSWORD,
           passwords: PasswordService = PASSWORDS) -> Citizen:
    citizen = accounts.create_citizen(db.session, data, passwords=passwords, password=password,
                                      today=TODAY)
    db.session.commit()
    return citizen


def fresh(citizen_id: uuid.UUID) -> Citizen:
    """Read the row again from the database, not from the identity map."""
    db.session.expire_all()
    row = db.session.get(Citizen, citizen_id)
    assert row is not None
    return row


# --- create_citizen -----------------------------------------------------------------------------


def test_create_citizen_normalises_and_stores_everything(app: Flask):
    data = NewCitizen(
        cccd="019 085.000-001",
        full_name=unicodedata.normalize("NFD", "  nguyễn   văn  an "),
        birthdate="12/03/1985",
        phone="0912 345 678",
        email="  An.Nguyen@ThaiNguyen.GOV.VN ",
        commune_code="5719",
        identity_level="2",
    )
    with app.app_context():
        citizen = create(data)
        row = fresh(citizen.id)
        assert isinstance(row.id, uuid.UUID)
        assert row.cccd == CCCD
        assert row.full_name == unicodedata.normalize("NFC", "nguyễn văn an")
        assert unicodedata.is_normalized("NFC", row.full_name)
        assert row.birthdate == date(1985, 3, 12)
        assert row.gender == "male"  # 4th CCCD digit 0: male, born in the 1900s
        assert row.phone == PHONE
        assert row.email == "An.Nguyen@thainguyen.gov.vn"
        assert row.commune_code == "05719"
        assert row.identity_level == 2
        assert row.status == CitizenStatus.ACTIVE
        assert row.password_hash.startswith("$argon2id$")
        assert TEST_PASSWORD not in row.password_hash
        assert PASSWORDS.verify(row.password_hash, TEST_PASSWORD)
        assert row.created_at is not None and row.updated_at is not None
        assert count() == 1


def test_create_citizen_minimal_fields(app: Flask):
    data = NewCitizen(cccd=CCCD, full_name="Lò Thị Mai", birthdate=date(1985, 1, 1),
                      phone="+84912345678", gender="male")
    with app.app_context():
        row = fresh(create(data, password=None).id)
        assert row.password_hash is None  # imported account: no password yet
        assert row.email is None
        assert row.commune_code is None
        assert row.identity_level == 1


@pytest.mark.parametrize(
    ("cccd", "birthdate", "gender"),
    [
        ("019085000001", "1985-03-12", "male"),
        ("019185000001", "1985-03-12", "female"),
        ("019203000001", "2003-07-01", "male"),
        ("019303000001", "2003-07-01", "female"),
        ("001099000001", "1999-12-31", "male"),
    ],
)
def test_gender_is_derived_from_cccd(app: Flask, cccd: str, birthdate: str, gender: str):
    with app.app_context():
        citizen = create(replace(VALID, cccd=cccd, birthdate=birthdate))
        assert fresh(citizen.id).gender == gender


@pytest.mark.parametrize("gender", ["female", None, ""])
def test_given_gender_must_match_cccd(app: Flask, gender: str | None):
    data = replace(VALID, cccd="019185000001", gender=gender)
    with app.app_context():
        assert create(data).gender == "female"


@pytest.mark.parametrize("level", [1, 2, "1", "2", " 2 "])
def test_identity_levels(app: Flask, level: Any):
    with app.app_context():
        assert fresh(create(replace(VALID, identity_level=level)).id).identity_level == int(level)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        # CCCD
        ({"cccd": ""}, "cccd"),
        ({"cccd": "   "}, "cccd"),
        ({"cccd": "12345"}, "cccd"),
        ({"cccd": "0190850000011"}, "cccd"),
        ({"cccd": "000085000001"}, "cccd"),  # no such province code
        ({"cccd": "01908500000a"}, "cccd"),
        ({"cccd": "０１９０８５０００００１"}, "cccd"),  # full-width digits
        ({"cccd": "1" * 1000}, "cccd"),
        # name
        ({"full_name": ""}, "full_name"),
        ({"full_name": "Nguyễn Văn 2"}, "full_name"),
        ({"full_name": "<script>alert(1)</script>"}, "full_name"),
        ({"full_name": "A"}, "full_name"),
        ({"full_name": "A" * 101}, "full_name"),
        ({"full_name": "-Nguyễn"}, "full_name"),
        # birthdate
        ({"birthdate": ""}, "birthdate"),
        ({"birthdate": "31/02/1985"}, "birthdate"),
        ({"birthdate": "1985/03/12"}, "birthdate"),
        ({"birthdate": "2030-01-01"}, "birthdate"),
        ({"birthdate": "1899-12-31"}, "birthdate"),
        ({"birthdate": "1986-03-12"}, "birthdate"),  # year does not match the CCCD
        ({"cccd": "019285000001"}, "birthdate"),  # CCCD says born 2085
        # gender
        ({"gender": "other"}, "gender"),
        ({"gender": "Male"}, "gender"),
        ({"gender": "female"}, "gender"),  # the CCCD says male
        ({"cccd": "019185000001", "gender": "male"}, "gender"),
        # phone
        ({"phone": ""}, "phone"),
        ({"phone": "abc"}, "phone"),
        ({"phone": "024 3825 1234"}, "phone"),  # landline
        ({"phone": "1900 1234"}, "phone"),
        ({"phone": "+1 202 555 0100"}, "phone"),
        ({"phone": "0212345678"}, "phone"),
        ({"phone": "0" * 40}, "phone"),
        # e-mail
        ({"email": "not-an-email"}, "email"),
        ({"email": "an nguyen@example.vn"}, "email"),
        ({"email": "an@" + "a" * 250 + ".vn"}, "email"),
        # commune
        ({"commune_code": "99999"}, "commune_code"),
        ({"commune_code": "abc"}, "commune_code"),
        # identity level
        ({"identity_level": 3}, "identity_level"),
        ({"identity_level": "3"}, "identity_level"),
        ({"identity_level": 0}, "identity_level"),
        ({"identity_level": "x"}, "identity_level"),
        ({"identity_level": True}, "identity_level"),
        ({"identity_level": 1.5}, "identity_level"),
        ({"identity_level": ""}, "identity_level"),
    ],
)
def test_bad_field_is_refused_and_nothing_written(app: Flask, changes: dict, field: str):
    with app.app_context():
        with pytest.raises(InvalidInput) as info:
            create(replace(VALID, **changes))
        assert not isinstance(info.value, DuplicateAccount)
        assert info.value.field == field
        assert str(info.value.message).strip()
        assert not db.session.new
        db.session.rollback()
        assert count() == 0


@pytest.mark.parametrize(
    "password",
    [
        "",
        "short",
        " " * 12,
        "x" * 257,
        CCCD,
        PHONE,
        "0912345678",
        "1985-03-12",
        "12/03/1985",
        "12031985",
    ],
)
def test_bad_password_is_refused_and_nothing_written(app: Flask, password: str):
    with app.app_context():
        with pytest.raises(InvalidInput) as info:
            create(password=password)
        assert info.value.field == "password"
        db.session.rollback()
        assert count() == 0


def test_password_is_stored_nfc(app: Flask):
    decomposed = unicodedata.normalize("NFD", TEST_PASSWORD)
    with app.app_context():
        row = fresh(create(password=decomposed).id)
        assert PASSWORDS.verify(row.password_hash, unicodedata.normalize("NFC", TEST_PASSWORD))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"phone": "0987654321"}, "cccd"),
        ({"cccd": "019.085.000.001", "phone": "0987654321"}, "cccd"),
        ({"cccd": "019085000002"}, "phone"),
        ({"cccd": "019085000002", "phone": "+84 912 345 678"}, "phone"),
        ({"cccd": "019085000002", "phone": "84912345678"}, "phone"),
        ({"cccd": "019085000002", "phone": "(091) 234-5678"}, "phone"),
    ],
)
def test_duplicates_are_refused_and_nothing_written(app: Flask, changes: dict, field: str):
    with app.app_context():
        first = create()
        with pytest.raises(DuplicateAccount) as info:
            create(replace(VALID, full_name="Trần Thị Bình", **changes))
        assert isinstance(info.value, InvalidInput)
        assert info.value.field == field
        message = str(info.value.message)
        assert "Nguyễn" not in message and CCCD not in message and PHONE not in message
        db.session.rollback()
        assert count() == 1
        assert fresh(first.id).full_name == "Nguyễn Văn An"


# --- find_by_identifier -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "identifier",
    [
        CCCD,
        "019 085 000 001",
        "019.085.000.001",
        "019-085-000-001",
        f"  {CCCD}  ",
        "0912 345 678",
        "0912345678",
        "+84912345678",
        "84912345678",
        "+84 912 345 678",
        "0912.345.678",
        "0912-345-678",
        "0084912345678",
        " 0912345678 ",
    ],
)
def test_find_by_identifier_finds(app: Flask, identifier: str):
    with app.app_context():
        citizen_id = create().id
        found = accounts.find_by_identifier(db.session, identifier)
        assert found is not None and found.id == citizen_id


@pytest.mark.parametrize(
    "identifier",
    [
        None,
        "",
        "   ",
        "garbage",
        "nguyễn văn an",
        "019085000002",  # someone else's CCCD
        "0912345679",
        "999085000001",  # impossible CCCD
        "01908500000",  # 11 digits
        "0190850000011",
        "0" * 65,
        "0912345678" + "9" * 60,
        "1" * 10_000,
        "٠٩١٢٣٤٥٦٧٨",  # Arabic-Indic digits
        "０９１２３４５６７８",  # full-width digits
        "0912345678' OR '1'='1",
        "%",
        "+84%",
        "1985-03-12",
    ],
)
def test_find_by_identifier_garbage_finds_nothing(app: Flask, identifier: str | None):
    with app.app_context():
        create()
        assert accounts.find_by_identifier(db.session, identifier) is None  # type: ignore[arg-type]


def test_find_by_any_accepts_internal_id(app: Flask):
    with app.app_context():
        citizen = create()
        for key in (str(citizen.id), f" {citizen.id} ", CCCD, "0912 345 678"):
            found = accounts.find_by_any(db.session, key)
            assert found is not None and found.id == citizen.id
        assert accounts.find_by_any(db.session, str(uuid.uuid4())) is None
        assert accounts.find_by_any(db.session, "not-a-uuid") is None


# --- authenticate_password ----------------------------------------------------------------------


@pytest.mark.parametrize("identifier", [CCCD, "019 085 000 001", "0912 345 678", PHONE])
def test_authenticate_success(app: Flask, identifier: str):
    with app.app_context():
        citizen_id = create().id
        result = accounts.authenticate_password(db.session, identifier, TEST_PASSWORD,
                                                passwords=PASSWORDS)
        assert result.citizen is not None and result.citizen.id == citizen_id
        assert result.locked is False


def test_authenticate_accepts_decomposed_password(app: Flask):
    with app.app_context():
        create()
        result = accounts.authenticate_password(
            db.session, CCCD, unicodedata.normalize("NFD", TEST_PASSWORD), passwords=PASSWORDS
        )
        assert result.citizen is not None


@pytest.mark.parametrize(
    ("identifier", "password"),
    [
        (CCCD, "wrong password"),
        (CCCD, ""),
        (CCCD, None),
        (CCCD, TEST_PASSWORD.upper()),
        (CCCD, TEST_PASSWORD + " "),
        ("019085000002", TEST_PASSWORD),  # unknown account
        ("0987654321", TEST_PASSWORD),
        ("garbage", TEST_PASSWORD),
        ("", TEST_PASSWORD),
        (None, TEST_PASSWORD),
        ("0" * 100, TEST_PASSWORD),
    ],
)
def test_authenticate_failure(app: Flask, identifier: str | None, password: str | None):
    with app.app_context():
        create()
        result = accounts.authenticate_password(
            db.session, identifier, password, passwords=PASSWORDS  # type: ignore[arg-type]
        )
        assert result.citizen is None
        assert result.locked is False


@pytest.mark.parametrize("attempt", [TEST_PASSWORD, "", "anything at all"])
def test_authenticate_without_password_set_fails(app: Flask, attempt: str):
    with app.app_context():
        citizen = create(password=None)
        result = accounts.authenticate_password(db.session, CCCD, attempt, passwords=PASSWORDS)
        assert result.citizen is None and result.locked is False
        assert fresh(citizen.id).password_hash is None


@pytest.mark.parametrize("status", [CitizenStatus.LOCKED, CitizenStatus.DISABLED])
@pytest.mark.parametrize(
    ("password", "locked"),
    [(TEST_PASSWORD, True), ("wrong password", False), ("", False)],
)
def test_inactive_account_revealed_only_with_right_password(
    app: Flask, status: CitizenStatus, password: str, locked: bool
):
    with app.app_context():
        citizen = create()
        citizen.status = status
        db.session.commit()
        result = accounts.authenticate_password(db.session, "0912 345 678", password,
                                                passwords=PASSWORDS)
        assert result.citizen is None
        assert result.locked is locked


def test_sign_in_rehashes_when_parameters_change(app: Flask):
    old, new = fast(time_cost=1), fast(time_cost=2)
    with app.app_context():
        citizen = create(passwords=old)
        old_hash = fresh(citizen.id).password_hash
        assert ",t=1," in old_hash

        result = accounts.authenticate_password(db.session, CCCD, TEST_PASSWORD, passwords=new)
        assert result.citizen is not None
        db.session.commit()

        new_hash = fresh(citizen.id).password_hash
        assert new_hash != old_hash
        assert new_hash.startswith("$argon2id$") and ",t=2," in new_hash
        assert new.verify(new_hash, TEST_PASSWORD)
        assert not new.needs_rehash(new_hash)

        # Signing in again with the same parameters leaves the hash alone.
        assert accounts.authenticate_password(db.session, CCCD, TEST_PASSWORD,
                                              passwords=new).citizen is not None
        db.session.commit()
        assert fresh(citizen.id).password_hash == new_hash


def test_no_rehash_on_failed_or_locked_sign_in(app: Flask):
    old, new = fast(time_cost=1), fast(time_cost=2)
    with app.app_context():
        citizen = create(passwords=old)
        old_hash = citizen.password_hash
        accounts.authenticate_password(db.session, CCCD, "wrong password", passwords=new)
        db.session.commit()
        assert fresh(citizen.id).password_hash == old_hash

        fresh(citizen.id).status = CitizenStatus.LOCKED
        db.session.commit()
        result = accounts.authenticate_password(db.session, CCCD, TEST_PASSWORD, passwords=new)
        assert result.locked is True
        db.session.commit()
        assert fresh(citizen.id).password_hash == old_hash


class RecordingPasswords(PasswordService):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_kib=64, parallelism=1)
        self.calls: list[tuple[str, int]] = []

    def hash(self, password: str) -> str:
        self.calls.append(("hash", len(password)))
        return super().hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        self.calls.append(("verify", len(password)))
        return super().verify(password_hash, password)

    def verify_dummy(self, password: str) -> None:
        self.calls.append(("verify_dummy", len(password)))
        super().verify_dummy(password)


@pytest.mark.parametrize("length", [1025, 4096, 1_000_000])
def test_over_long_password_is_refused_without_hashing_it(app: Flask, length: int):
    with app.app_context():
        create()
        spy = RecordingPasswords()
        result = accounts.authenticate_password(db.session, CCCD, "x" * length, passwords=spy)
        assert result.citizen is None and result.locked is False
        assert spy.calls == [("verify_dummy", 0)]


def test_password_of_1024_characters_is_still_checked(app: Flask):
    with app.app_context():
        create()
        spy = RecordingPasswords()
        result = accounts.authenticate_password(db.session, CCCD, "x" * 1024, passwords=spy)
        assert result.citizen is None
        assert spy.calls == [("verify", 1024)]


@pytest.mark.parametrize("identifier", ["019085000002", "garbage", ""])
def test_unknown_account_still_costs_one_hash(app: Flask, identifier: str):
    with app.app_context():
        create()
        spy = RecordingPasswords()
        accounts.authenticate_password(db.session, identifier, TEST_PASSWORD, passwords=spy)
        assert spy.calls == [("verify_dummy", len(TEST_PASSWORD))]


def test_account_without_password_still_costs_one_hash(app: Flask):
    with app.app_context():
        create(password=None)
        spy = RecordingPasswords()
        accounts.authenticate_password(db.session, CCCD, TEST_PASSWORD, passwords=spy)
        assert [name for name, _ in spy.calls] == ["verify", "verify_dummy"]


def test_make_citizen_fixture_round_trip(app: Flask, make_citizen):
    citizen = make_citizen()
    with app.app_context():
        result = accounts.authenticate_password(db.session, citizen.cccd, TEST_PASSWORD,
                                                passwords=app.extensions["tnid.passwords"])
        assert result.citizen is not None and result.citizen.id == citizen.id
