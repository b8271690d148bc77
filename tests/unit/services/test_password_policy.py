"""Tests of idp.services.password_policy (NIST SP 800-63B: length rules, no composition rules,
a blocklist of common passwords, never the citizen's own numbers)."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest

from idp.services import password_policy
from idp.services.identifiers import InvalidInput
from idp.services.password_policy import (
    MAX_LENGTH,
    MIN_LENGTH,
    check_new_password,
    estimate_strength,
    is_common,
    personal_values,
)

NFD = lambda s: unicodedata.normalize("NFD", s)  # noqa: E731
NFC = lambda s: unicodedata.normalize("NFC", s)  # noqa: E731

PERSONAL = ("019085000001", "+84912345678", "0912345678", "1985-03-12", "12/03/1985", "12031985")


def refused(password: str, *, personal_values: tuple[str, ...] = ()) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        check_new_password(password, personal_values=personal_values)
    assert info.value.field == "password"
    assert str(info.value.message).strip()
    return info.value


def test_limits():
    assert (MIN_LENGTH, MAX_LENGTH) == (8, 256)


@pytest.mark.parametrize(
    "password",
    [
        "",
        "a",
        "1234567",
        "ậậậậậậậ",
        NFD("ậậậậậậậ"),  # 21 code points typed, 7 characters after NFC
        NFD("mật khẩ"),  # 7 after NFC
        "🏔" * 7,
    ],
)
def test_too_short_is_refused(password: str):
    assert "8" in str(refused(password))


@pytest.mark.parametrize(
    "password",
    ["abcdefgh", "ậbcdêfgh", NFD("ậbcdêfgh"), NFD("chè xanh"), "🏔🌲" * 4, "b" * 7 + "ậ"],
)
def test_eight_characters_after_nfc_are_enough(password: str):
    assert check_new_password(password) == NFC(password)


@pytest.mark.parametrize(
    "password",
    ["a" * 257, "ậ" * 257, NFD("ậ" * 257), "x" * 100_000],
)
def test_too_long_is_refused(password: str):
    assert "256" in str(refused(password))


@pytest.mark.parametrize(
    "password",
    ["ab" * 128, "ậb" * 128, NFD("ậb" * 128), "a b " * 64],
)
def test_up_to_256_characters_after_nfc_are_accepted(password: str):
    result = check_new_password(password)
    assert result == NFC(password)
    assert len(result) <= MAX_LENGTH


@pytest.mark.parametrize(
    "password",
    [" " * 8, " " * 30, "\t" * 8, "\u00a0" * 8, "\u3000" * 8, " \t \n \r \u00a0 ", " " * 256],
)
def test_only_spaces_is_refused(password: str):
    assert "spaces" in str(refused(password))


@pytest.mark.parametrize(
    ("password", "personal"),
    [
        ("019085000001", PERSONAL),
        ("+84912345678", PERSONAL),
        ("0912345678", PERSONAL),
        ("1985-03-12", PERSONAL),
        ("12/03/1985", PERSONAL),
        ("12031985", PERSONAL),
        ("  0912345678  ", PERSONAL),  # surrounding spaces do not help
        ("0912 345 678", PERSONAL),  # nor separators inside
        ("0912.345.678", PERSONAL),
        ("1985-03-12!", PERSONAL),
        ("12.03.1985", PERSONAL),
        ("019 085 000 001", PERSONAL),
        ("nguyenvanan", ("NguyenVanAn",)),  # case-insensitive
        ("NGUYENVANAN", ("nguyenvanan",)),
        ("NGUYỄN VĂN AN", ("nguyễn văn an",)),  # Vietnamese case folding
        (NFD("nguyễn văn an"), ("Nguyễn Văn An",)),  # NFD typed, NFC stored
        ("STRASSE1985", ("straße1985",)),  # casefold, not just lower
    ],
)
def test_personal_values_are_refused(password: str, personal: tuple[str, ...]):
    assert "citizen ID" in str(refused(password, personal_values=personal))


@pytest.mark.parametrize(
    "password",
    ["0912345678x", "x019085000001", "phone 0912345678", "1985-03-12 là ngày sinh"],
)
def test_passwords_merely_containing_personal_values_are_accepted(password: str):
    assert check_new_password(password, personal_values=PERSONAL) == password


def test_empty_personal_values_are_ignored():
    assert check_new_password("abcdefgh", personal_values=("", "")) == "abcdefgh"


@pytest.mark.parametrize(
    "password",
    [
        "Mật khẩu của tôi là chè",
        "Đường lên Tam Đảo 2025",
        "Thái Nguyên quê tôi có chè ngon",
        "chè Tân Cương ngon nhất",
        "ĐẶNG THỊ HỒNG NHUNG",
        NFD("Mật khẩu của tôi là chè"),
        NFD("Hồ Núi Cốc trong xanh"),
        "mật khẩu thử nghiệm 2025",
    ],
)
def test_vietnamese_passphrases_are_accepted_and_returned_nfc(password: str):
    result = check_new_password(password, personal_values=PERSONAL)
    assert result == NFC(password)
    assert unicodedata.is_normalized("NFC", result)


@pytest.mark.parametrize(
    "password",
    ["abcdefgh", "onlylowercaseletters", "  spaced out  ", "no-Upper-needed", "🔑🌾🔑🌾🔑🌾🔑🌾",
     "tôi thích ăn phở", "11 con mèo đen"],
)
def test_no_composition_rules(password: str):
    assert check_new_password(password) == password


def test_surrounding_spaces_are_kept_in_the_password():
    assert check_new_password("  mật khẩu dài  ") == "  mật khẩu dài  "


# --- Blocklist ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "password", "Password", "PASSWORD1", "12345678", "123456789", "qwerty123", "trustno1",
        "iloveyou", "I love you!", "i love you 2025",
        # the Vietnamese list, with and without diacritics, spaces, case and trailing years
        "matkhau!", "Mật khẩu", "MATKHAU2025", "mật khẩu 123", NFD("Mật khẩu 1990"),
        "anhyeuem", "Anh yêu em", "anh yeu em 1990", "Em yêu anh!", "thainguyen",
        "Thái Nguyên", "Thái Nguyên 2025", NFD("Thái Nguyên"), "vietnam1", "Việt Nam 2024",
        "88888888", "66668888", "abc12345", "nguyenvan", "Nguyễn Văn 1985", "00000000",
        # one character repeated
        "aaaaaaaa", "........", "ậậậậậậậậ", "🔑🔑🔑🔑🔑🔑🔑🔑", "zzzzzzzzzzzzzzzzzzzzz",
    ],
)
def test_common_passwords_are_refused(password: str):
    assert is_common(password)
    assert "common" in str(refused(password))


@pytest.mark.parametrize(
    "password",
    [
        "mật khẩu thử nghiệm 2025", "thai-nguyen-demo-2025", "một mật khẩu dài 2025",
        "correct horse battery staple", "Đường lên Tam Đảo 2025", "chè Tân Cương ngon nhất",
        "2025 matkhau",  # only *trailing* digits are stripped
    ],
)
def test_uncommon_passwords_pass_the_blocklist(password: str):
    assert not is_common(password)
    assert check_new_password(password) == NFC(password)


def test_the_vietnamese_list_is_shipped_and_plain():
    path = password_policy._VI_LIST
    words = [w for w in path.read_text(encoding="utf-8").splitlines()
             if w.strip() and not w.startswith("#")]
    assert 100 <= len(words) <= 250
    assert all(w.isascii() and w == w.strip().lower() for w in words)
    assert {"matkhau", "anhyeuem", "thainguyen", "66668888"} <= set(words)


def test_personal_values_cover_the_usual_formats():
    values = personal_values(cccd="019190000123", phone="+84912345678",
                             birthdate=date(1990, 2, 1), full_name="Nguyễn Văn An")
    for typed in ("019190000123", "+84912345678", "0912345678", "0912 345 678", "1990-02-01",
                  "01/02/1990", "1/2/1990", "01.02.1990", "01021990", "19900201", "01-02-1990",
                  "Nguyễn Văn An", "nguyenvanan", "NGUYEN VAN AN"):
        assert "citizen ID" in str(refused(typed, personal_values=values)), typed


# --- Strength estimate (for the hint; never a reason to refuse) ----------------------------


@pytest.mark.parametrize(("password", "low", "high"), [
    ("", 0, 0),
    ("12345678", 0, 0),
    ("abcdefgh", 0, 1),
    ("Mật khẩu", 0, 2),  # diacritics alone are no strength
    ("correct horse battery staple", 3, 4),
    ("Đường lên Tam Đảo 2025", 3, 4),
    ("ab" * 128, 0, 4),  # long input is cut before zxcvbn (it refuses > 72 characters)
])
def test_strength_estimate(password: str, low: int, high: int):
    assert low <= estimate_strength(password) <= high


def test_strength_uses_the_citizens_own_values():
    assert estimate_strength("nguyenvanan85", user_inputs=["Nguyễn Văn An"]) <= \
        estimate_strength("nguyenvanan85")
