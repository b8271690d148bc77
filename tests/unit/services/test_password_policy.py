"""Tests of idp.services.password_policy (NIST SP 800-63B length rules, no composition rules)."""

from __future__ import annotations

import unicodedata

import pytest

from idp.services.identifiers import InvalidInput
from idp.services.password_policy import MAX_LENGTH, MIN_LENGTH, check_new_password

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
    ["abcdefgh", "ậậậậậậậậ", NFD("ậậậậậậậậ"), NFD("mật khẩu"), "🏔" * 8, "a" * 7 + "ậ"],
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
    ["a" * 256, "ậ" * 256, NFD("ậ" * 256), "a b " * 64],
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
    ["0912345678x", "x019085000001", "1985-03-12!", "0912 345 678", "phone 0912345678"],
)
def test_passwords_merely_containing_personal_values_are_accepted(password: str):
    assert check_new_password(password, personal_values=PERSONAL) == password


def test_empty_personal_values_are_ignored():
    assert check_new_password("abcdefgh", personal_values=("", "")) == "abcdefgh"


@pytest.mark.parametrize(
    "password",
    [
        "Mật khẩu của tôi",
        "Đường lên Tam Đảo 2025",
        "Thái Nguyên quê tôi",
        "chè Tân Cương ngon nhất",
        "ĐẶNG THỊ HỒNG NHUNG",
        NFD("Mật khẩu của tôi"),
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
    ["password", "aaaaaaaa", "12345678", "  spaced out  ", "no-Upper-needed", "🔑🔑🔑🔑🔑🔑🔑🔑"],
)
def test_no_composition_rules(password: str):
    assert check_new_password(password) == password


def test_surrounding_spaces_are_kept_in_the_password():
    assert check_new_password("  mật khẩu dài  ") == "  mật khẩu dài  "
