"""Unit and property tests for idp.services.identifiers (pure functions, no app needed)."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime

import pytest
from flask_babel import LazyString
from hypothesis import given, settings
from hypothesis import strategies as st

from idp.services import identifiers as ids
from idp.services.identifiers import InvalidInput

# No example database on disk, no per-example deadline (no timing assertions).
PROPERTY = settings(database=None, deadline=None, max_examples=200)

TODAY = date(2025, 8, 15)
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def assert_invalid(field: str, func, *args, **kwargs) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        func(*args, **kwargs)
    assert info.value.field == field
    assert str(info.value.message).strip()
    return info.value


# --- InvalidInput -------------------------------------------------------------------------------


def test_invalid_input_is_value_error_with_translatable_message():
    err = assert_invalid("cccd", ids.normalize_cccd, "123")
    assert isinstance(err, ValueError)
    assert isinstance(err.message, LazyString)
    assert str(err) == str(err.message)
    assert "12 digits" in str(err)


def test_invalid_input_accepts_plain_string():
    err = InvalidInput("email", "Bad email.")
    assert (err.field, err.message, str(err)) == ("email", "Bad email.", "Bad email.")


def test_province_code_table_has_the_63_legacy_codes():
    assert len(ids.CCCD_PROVINCE_CODES) == 63
    assert all(len(c) == 3 and c.isdigit() for c in ids.CCCD_PROVINCE_CODES)
    assert "019" in ids.CCCD_PROVINCE_CODES  # Thái Nguyên
    assert {"003", "097", "000"}.isdisjoint(ids.CCCD_PROVINCE_CODES)


# --- CCCD ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("001099012345", "001099012345"),
        ("  001099012345  ", "001099012345"),
        ("001 099 012 345", "001099012345"),
        ("001.099.012.345", "001099012345"),
        ("001-099-012345", "001099012345"),
        ("019\u00a0199\u00a0000123", "019199000123"),  # non-breaking spaces from copy-paste
        ("096300000001", "096300000001"),
    ],
)
def test_normalize_cccd_accepts(raw, expected):
    assert ids.normalize_cccd(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        None,
        "12345678901",  # 11 digits
        "0010990123456",  # 13 digits
        "00109901234a",
        "CCCD001099012345",
        "+001099012345",
        "001099012345".translate(ARABIC_INDIC),
        "001099012345".translate(FULLWIDTH),
        "000099012345",  # province code 000 does not exist
        "003099012345",  # gap in the table
        "097099012345",  # above the last legacy code
        "840912345678",  # a phone number typed with the country code
        "1" * 100,
        "001_099_012_345",
    ],
)
def test_normalize_cccd_rejects(raw):
    assert_invalid("cccd", ids.normalize_cccd, raw)


@pytest.mark.parametrize(
    ("cccd", "gender", "century", "year"),
    [
        ("001099012345", "male", 1900, 1999),
        ("001199012345", "female", 1900, 1999),
        ("019205012345", "male", 2000, 2005),
        ("019305012345", "female", 2000, 2005),
        ("019400012345", "male", 2100, 2100),
        ("019500012345", "female", 2100, 2100),
        ("019601012345", "male", 2200, 2201),
        ("019701012345", "female", 2200, 2201),
        ("019899012345", "male", 1800, 1899),
        ("019999012345", "female", 1800, 1899),
    ],
)
def test_cccd_facts(cccd, gender, century, year):
    assert ids.cccd_facts(cccd) == ids.CccdFacts(cccd[:3], gender, century, year)


def test_cccd_facts_rejects_invalid_number():
    assert_invalid("cccd", ids.cccd_facts, "999099012345")


@pytest.mark.parametrize(
    ("cccd", "birthdate", "gender", "expected"),
    [
        ("001099012345", date(1999, 3, 1), None, "male"),
        ("001099012345", date(1999, 12, 31), "male", "male"),
        ("019160012345", date(1960, 1, 1), None, "female"),
        ("019160012345", date(1960, 6, 30), "female", "female"),
        ("019300012345", date(2000, 1, 1), None, "female"),
    ],
)
def test_check_cccd_consistency_accepts(cccd, birthdate, gender, expected):
    assert ids.check_cccd_consistency(cccd, birthdate, gender) == expected


@pytest.mark.parametrize(
    ("cccd", "birthdate", "gender", "field"),
    [
        ("001099012345", date(1998, 3, 1), None, "birthdate"),
        ("001099012345", date(2099, 3, 1), None, "birthdate"),  # right digits, wrong century
        ("019899012345", date(1999, 3, 1), None, "birthdate"),  # 1800s card
        ("001099012345", date(1999, 3, 1), "female", "gender"),
        ("001199012345", date(1999, 3, 1), "male", "gender"),
        ("001099", date(1999, 3, 1), None, "cccd"),
    ],
)
def test_check_cccd_consistency_rejects(cccd, birthdate, gender, field):
    assert_invalid(field, ids.check_cccd_consistency, cccd, birthdate, gender)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("001099012345", "001******345"), ("019199000123", "019******123")],
)
def test_mask_cccd(raw, expected):
    assert ids.mask_cccd(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("001099012345", True),
        ("001 099 012 345", True),
        ("001.099.012.345", True),
        ("999999999999", True),  # shape only; normalize_cccd does the real check
        ("0912345678", False),
        ("+84912345678", False),
        ("84912345678", False),
        ("00109901234", False),
        ("0010990123456", False),
        ("001099012345".translate(ARABIC_INDIC), False),
        ("001099012345x", False),
        ("", False),
        ("   ", False),
        ("1" * 1000, False),
    ],
)
def test_looks_like_cccd(raw, expected):
    assert ids.looks_like_cccd(raw) is expected


# --- Phone --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "0912345678",
        "0912 345 678",
        "0912.345.678",
        "0912-345-678",
        "+84 912 345 678",
        "+84912345678",
        "84912345678",
        "0084 912 345 678",
        "(+84) 912-345-678",
        "  0912345678  ",
        "0912\u00a0345\u00a0678",
    ],
)
def test_normalize_phone_accepts_common_formats(raw):
    assert ids.normalize_phone(raw) == "+84912345678"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0362345678", "+84362345678"),
        ("0862 345 678", "+84862345678"),
        ("0592345678", "+84592345678"),
    ],
)
def test_normalize_phone_other_networks(raw, expected):
    assert ids.normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        None,
        "0208 3855 123",  # Thái Nguyên landline: cannot receive SMS
        "+84 208 3855 123",
        "1900 1234",  # premium service number
        "1800 1234",  # toll-free number
        "+1 650 253 0000",  # USA
        "+44 7911 123456",  # UK mobile
        "+86 138 0013 8000",  # China mobile
        "+855 12 345 678",  # Cambodia mobile
        "0912345",  # too short
        "091234567890",  # too long for VN
        "0552345678",  # unassigned prefix
        "09I2345678",  # letter I instead of digit 1
        "0912 345 678 ext 12",
        "0912345678".translate(ARABIC_INDIC),
        "0912345678".translate(FULLWIDTH),
        "++84912345678",
        "+",
        "0" * 33,  # over the 32-character limit
    ],
)
def test_normalize_phone_rejects(raw):
    assert_invalid("phone", ids.normalize_phone, raw)


def test_normalize_phone_length_limit_applies_to_trimmed_input():
    assert ids.normalize_phone("0912345678" + " " * 40) == "+84912345678"
    assert_invalid("phone", ids.normalize_phone, "0 9 1 2 3 4 5 6 7 8 " * 2)


@pytest.mark.parametrize(
    ("e164", "expected"),
    [("+84912345678", "091****678"), ("+84362345678", "036****678")],
)
def test_mask_phone(e164, expected):
    assert ids.mask_phone(e164) == expected


def test_masks_work_on_stored_values_without_revalidating():
    # A stored number that a later libphonenumber release no longer likes still displays.
    assert ids.mask_phone("+84199999999") == "019****999"
    assert ids.mask_cccd("999099012345") == "999******345"


# --- Names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Nguyễn Văn An", "Nguyễn Văn An"),
        (unicodedata.normalize("NFD", "Nguyễn Thị Ánh"), "Nguyễn Thị Ánh"),
        ("  Trần   Thị\tBình \n", "Trần Thị Bình"),
        ("Đặng\u00a0Thị Ngọc Hân", "Đặng Thị Ngọc Hân"),
        ("nguyễn văn an", "nguyễn văn an"),  # case kept as typed
        ("H'Hen Niê", "H'Hen Niê"),
        ("Ksor H\u2019Bia", "Ksor H'Bia"),
        ("Nguyễn Thị Minh-Thư", "Nguyễn Thị Minh-Thư"),
        ("J. Smith", "J. Smith"),
        ("An", "An"),
        ("Lê", "Lê"),
        ("A" * 100, "A" * 100),
    ],
)
def test_normalize_full_name_accepts(raw, expected):
    assert ids.normalize_full_name(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        None,
        "A",
        "Nguyễn Văn 2",
        "Nguyễn Văn ٣",
        "Nguyễn Văn ３",
        "Nguyễn_Văn_An",
        "an@example.com",
        "<script>alert(1)</script>",
        "Nguyễn Văn An 😀",
        "Nguyễn\u200bVăn",  # zero-width space
        "Nguyễn\x00Văn",
        "-Nguyễn",
        "'An",
        ". .",
        "A" * 101,
        "A " * 300,
    ],
)
def test_normalize_full_name_rejects(raw):
    assert_invalid("full_name", ids.normalize_full_name, raw)


@pytest.mark.parametrize(
    ("full_name", "expected"),
    [
        ("Nguyễn Văn An", ("Nguyễn", "Văn An")),
        ("Lê Lợi", ("Lê", "Lợi")),
        ("Nguyễn Thị Minh Khai", ("Nguyễn", "Thị Minh Khai")),
        ("Madonna", ("", "Madonna")),
        ("", ("", "")),
    ],
)
def test_split_vietnamese_name(full_name, expected):
    assert ids.split_vietnamese_name(full_name) == expected


# --- Birthdate ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1960-12-25", date(1960, 12, 25)),
        ("25/12/1960", date(1960, 12, 25)),
        ("5/7/1960", date(1960, 7, 5)),
        ("05.07.1960", date(1960, 7, 5)),
        ("05-07-1960", date(1960, 7, 5)),
        ("  25/12/1960 ", date(1960, 12, 25)),
        ("29/02/2000", date(2000, 2, 29)),
        ("1900-01-01", date(1900, 1, 1)),
        ("15/08/2025", TODAY),  # born today
        (date(1970, 1, 2), date(1970, 1, 2)),
        (datetime(1970, 1, 2, 13, 45), date(1970, 1, 2)),
    ],
)
def test_parse_birthdate_accepts(raw, expected):
    result = ids.parse_birthdate(raw, today=TODAY)
    assert result == expected
    assert type(result) is date


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        None,
        "30/02/2000",  # Feb 30
        "29/02/1900",  # 1900 is not a leap year
        "31/04/2000",
        "00/01/2000",
        "2000-13-01",
        "2000-00-10",
        "16/08/2025",  # tomorrow
        "2100-01-01",
        date(2025, 8, 16),
        "31/12/1899",
        date(1899, 12, 31),
        "25/12/60",  # two-digit year is ambiguous
        "1960/12/25",
        "25/12-1960",  # mixed separators
        "2000-1-1",
        "25 12 1960",
        "December 25, 1960",
        "1960-12-25".translate(ARABIC_INDIC),
        "1960-12-25T00:00",
        12251960,
    ],
)
def test_parse_birthdate_rejects(raw):
    assert_invalid("birthdate", ids.parse_birthdate, raw, today=TODAY)


# --- E-mail -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("an@example.com", "an@example.com"),
        ("  An.Nguyen@Example.COM ", "An.Nguyen@example.com"),
        ("a+tag@mail.thainguyen.gov.vn", "a+tag@mail.thainguyen.gov.vn"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("user@xn--80ak6aa92e.com", "user@xn--80ak6aa92e.com"),
        ("x@sub-domain.example.org", "x@sub-domain.example.org"),
    ],
)
def test_normalize_email_accepts(raw, expected):
    assert ids.normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "an",
        "an@",
        "@example.com",
        "an@example",
        "an nguyen@example.com",
        "an@exa mple.com",
        "an@@example.com",
        "an..b@example.com",
        ".an@example.com",
        "an.@example.com",
        "an@-example.com",
        "an@example-.com",
        "an@example.c",
        "an@example.com.",
        "an@example..com",
        "an@example.123",
        "nguyễn@example.com",
        "an@ví-dụ.vn",
        "an@example.com\nBcc: x@example.com",
        "<an@example.com>",
        "a" * 65 + "@example.com",
        "a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 63 + ".com",
    ],
)
def test_normalize_email_rejects(raw):
    assert_invalid("email", ids.normalize_email, raw)


# --- Communes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["5719", "05719", 5719, " 05719 "])
def test_normalize_commune_code_accepts(raw):
    assert ids.normalize_commune_code(raw) == "05719"


@pytest.mark.parametrize(
    "raw",
    ["", "  ", None, "abc", "99999", 99999, 0, -5719, True, "057190", "5719.0", 5719.0, "٥٧١٩"],
)
def test_normalize_commune_code_rejects(raw):
    assert_invalid("commune_code", ids.normalize_commune_code, raw)


def test_normalize_commune_code_can_require_a_province():
    assert ids.normalize_commune_code("05719", province_code=19) == "05719"
    err = assert_invalid("commune_code", ids.normalize_commune_code, "00070", province_code=19)
    assert "Thái Nguyên" in str(err)
    assert ids.normalize_commune_code("70") == "00070"  # Hà Nội ward, no restriction


def test_commune_names():
    assert ids.commune_name("05719") == "Xã Sảng Mộc"
    assert ids.commune_name(5719) == "Xã Sảng Mộc"
    assert ids.commune_province_name("05719") == "Thái Nguyên"
    assert_invalid("commune_code", ids.commune_name, "99999")
    assert_invalid("commune_code", ids.commune_province_name, "x")


def test_communes_of_thai_nguyen():
    communes = ids.communes_of_province()
    assert len(communes) == 92
    assert ("05719", "Xã Sảng Mộc") in communes
    assert len({code for code, _ in communes}) == 92
    for code, name in communes:
        assert len(code) == 5 and code.isdigit()
        assert ids.commune_province_name(code) == "Thái Nguyên"
        assert name.startswith(("Xã ", "Phường "))
    assert communes == sorted(communes, key=lambda c: ids._collation_key(c[1]))
    # Accent-insensitive first: "Bá" < "Bắc" < "Bách" (đ sorts with d, not after z).
    names = [name for _, name in communes]
    assert names.index("Phường Bá Xuyên") < names.index("Phường Bắc Kạn")
    assert names.index("Phường Bắc Kạn") < names.index("Phường Bách Quang")
    assert names.index("Phường Đức Xuân") < names.index("Phường Gia Sàng")


def test_communes_of_province_returns_a_fresh_list():
    ids.communes_of_province(ids.THAI_NGUYEN_PROVINCE_CODE).clear()
    assert len(ids.communes_of_province(19)) == 92


def test_communes_of_unknown_province():
    with pytest.raises(ValueError):
        ids.communes_of_province(3)


# --- Properties ---------------------------------------------------------------------------------

_CENTURY_DIGIT = {1800: 8, 1900: 0, 2000: 2, 2100: 4, 2200: 6}
_MOBILE_PREFIXES = ["32", "33", "34", "35", "36", "37", "38", "39", "56", "58", "59", "70",
                    "76", "77", "78", "79", "81", "82", "83", "84", "85", "86", "88", "90",
                    "91", "93", "94", "96", "97", "98"]  # fmt: skip


@PROPERTY
@given(
    birthdate=st.dates(min_value=date(1800, 1, 1), max_value=date(2299, 12, 31)),
    gender=st.sampled_from(["male", "female"]),
    province=st.sampled_from(sorted(ids.CCCD_PROVINCE_CODES)),
    serial=st.integers(min_value=0, max_value=999_999),
)
def test_generated_cccd_round_trips(birthdate, gender, province, serial):
    century = birthdate.year // 100 * 100
    digit = _CENTURY_DIGIT[century] + (1 if gender == "female" else 0)
    cccd = f"{province}{digit}{birthdate.year % 100:02d}{serial:06d}"
    assert ids.looks_like_cccd(cccd)
    assert ids.normalize_cccd(cccd) == cccd
    assert ids.cccd_facts(cccd) == ids.CccdFacts(province, gender, century, birthdate.year)
    assert ids.check_cccd_consistency(cccd, birthdate, None) == gender
    assert ids.check_cccd_consistency(cccd, birthdate, gender) == gender
    other = "female" if gender == "male" else "male"
    assert_invalid("gender", ids.check_cccd_consistency, cccd, birthdate, other)
    assert ids.mask_cccd(cccd) == cccd[:3] + "******" + cccd[-3:]


@PROPERTY
@given(
    prefix=st.sampled_from(_MOBILE_PREFIXES),
    rest=st.text(alphabet="0123456789", min_size=7, max_size=7),
    lead=st.sampled_from(["0", "+84", "84", "0084", "(+84) ", "+84 "]),
    sep=st.sampled_from(["", " ", ".", "-"]),
)
def test_normalize_phone_is_idempotent(prefix, rest, lead, sep):
    raw = f"{lead}{prefix}{rest[:1]}{sep}{rest[1:4]}{sep}{rest[4:]}"
    e164 = ids.normalize_phone(raw)
    assert e164 == f"+84{prefix}{rest}"
    assert ids.normalize_phone(e164) == e164
    assert ids.mask_phone(e164) == f"0{prefix[0]}{prefix[1]}****{rest[-3:]}"
    assert not ids.looks_like_cccd(raw)  # sign-in routing never mistakes it for a CCCD


@PROPERTY
@given(st.text(max_size=40))
def test_normalizers_only_raise_invalid_input_and_are_idempotent(raw):
    for func in (ids.normalize_cccd, ids.normalize_phone, ids.normalize_full_name,
                 ids.normalize_email, ids.normalize_commune_code):  # fmt: skip
        try:
            out = func(raw)
        except InvalidInput:
            continue
        assert func(out) == out
    try:
        ids.parse_birthdate(raw, today=TODAY)
    except InvalidInput:
        pass


@PROPERTY
@given(st.text(alphabet=st.characters(categories=["L", "Zs"]), min_size=2, max_size=60))
def test_normalized_names_are_nfc_single_spaced(raw):
    try:
        name = ids.normalize_full_name(raw)
    except InvalidInput:
        return
    assert name == unicodedata.normalize("NFC", name) == name.strip()
    assert "  " not in name
    family, given = ids.split_vietnamese_name(name)
    assert (f"{family} {given}" if family else given) == name
