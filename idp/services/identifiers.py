"""Validation and normalisation of citizen identifiers (CCCD, phone, name, dates, communes).

Pure functions: no Flask request, no database. Every rejection raises ``InvalidInput`` carrying
the form field name and a short, translatable message written for an elderly citizen.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Literal

import phonenumbers
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from vietnam_provinces import Province, ProvinceCode, Ward, WardCode

Gender = Literal["male", "female"]
Message = LazyString | str

THAI_NGUYEN_PROVINCE_CODE = 19


class InvalidInput(ValueError):
    """Bad user input for one form field; ``message`` is safe to show to the citizen."""

    field: str
    message: Message

    def __init__(self, field: str, message: Message) -> None:
        # Both go into args so the exception pickles and reprs usefully.
        super().__init__(field, message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return str(self.message)


# --- CCCD (Căn cước công dân) -------------------------------------------------------------------

# Province codes of the place of birth registration, Appendix of Circular 07/2016/TT-BCA.
# They stay valid after the 1 July 2025 province merger: CCCD numbers are never reissued with
# new prefixes, so the 63 legacy codes are the only prefixes a genuine card can carry.
CCCD_PROVINCE_CODES: frozenset[str] = frozenset(
    "001 002 004 006 008 010 011 012 014 015 017 019 020 022 024 025 026 027 030 031 033 034 "
    "035 036 037 038 040 042 044 045 046 048 049 051 052 054 056 058 060 062 064 066 067 068 "
    "070 072 074 075 077 079 080 082 083 084 086 087 089 091 092 093 094 095 096".split()
)

# 4th digit of a CCCD: century of birth and gender (even = male, odd = female).
_CENTURY_BY_DIGIT_PAIR = (1900, 2000, 2100, 2200, 1800)

# People copy numbers with spaces, dots or dashes as printed on photocopies; \s also catches NBSP.
_SEPARATORS = re.compile(r"[\s.\-]+")
_ASCII_DIGITS = re.compile(r"[0-9]+")
_MAX_RAW_LEN = 64  # bounds the work done on hostile input


@dataclass(frozen=True)
class CccdFacts:
    province_code: str
    gender: Gender
    century_start: int
    birth_year: int


def looks_like_cccd(raw: str) -> bool:
    """True when ``raw`` is 12 ASCII digits once separators are removed (sign-in routing)."""
    if not isinstance(raw, str) or len(raw) > _MAX_RAW_LEN:
        return False
    digits = _SEPARATORS.sub("", raw)
    return len(digits) == 12 and _ASCII_DIGITS.fullmatch(digits) is not None


def normalize_cccd(raw: str) -> str:
    """Return the 12-digit CCCD or raise InvalidInput("cccd", ...)."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("cccd", _l("Please enter your citizen ID number (CCCD)."))
    if len(raw) > _MAX_RAW_LEN:
        raise InvalidInput("cccd", _l("The citizen ID number (CCCD) must have exactly 12 digits."))
    digits = _SEPARATORS.sub("", raw)
    # ASCII only: str.isdigit() would also accept Arabic-Indic or full-width digits.
    if _ASCII_DIGITS.fullmatch(digits) is None:
        raise InvalidInput(
            "cccd", _l("The citizen ID number (CCCD) can only contain the digits 0 to 9.")
        )
    if len(digits) != 12:
        raise InvalidInput("cccd", _l("The citizen ID number (CCCD) must have exactly 12 digits."))
    if digits[:3] not in CCCD_PROVINCE_CODES:
        raise InvalidInput(
            "cccd",
            _l(
                "The first 3 digits of the citizen ID number (CCCD) are not valid. "
                "Please check the number on your card."
            ),
        )
    return digits


def cccd_facts(cccd: str) -> CccdFacts:
    """Decode province, gender and birth year encoded in a CCCD."""
    cccd = normalize_cccd(cccd)
    code = int(cccd[3])
    gender: Gender = "male" if code % 2 == 0 else "female"
    century = _CENTURY_BY_DIGIT_PAIR[code // 2]
    return CccdFacts(cccd[:3], gender, century, century + int(cccd[4:6]))


def check_cccd_consistency(cccd: str, birthdate: date, gender: Gender | None) -> Gender:
    """Cross-check what the citizen typed against the CCCD; return the (derived) gender."""
    facts = cccd_facts(cccd)
    if birthdate.year != facts.birth_year:
        raise InvalidInput(
            "birthdate",
            _l(
                "The year of birth does not match your citizen ID number (CCCD). Please check both."
            ),
        )
    if gender is not None and gender != facts.gender:
        raise InvalidInput("gender", _l("The gender does not match your citizen ID number (CCCD)."))
    return facts.gender


def mask_cccd(cccd: str) -> str:
    """Mask for screens and e-mails: "001099012345" -> "001******345"."""
    # Stored values are already valid: slice, never re-validate (a rule change must not
    # break the page of a citizen registered under the old rule).
    return f"{cccd[:3]}{'*' * max(len(cccd) - 6, 0)}{cccd[-3:]}"


# --- Phone ------------------------------------------------------------------------------------

# Whitelist before phonenumbers: it would otherwise turn letters into keypad digits.
_PHONE_CHARS = re.compile(r"[0-9+()\s.\-]+")
_SMS_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


def normalize_phone(raw: str) -> str:
    """Return a Vietnamese mobile number in E.164 ("+84912345678") or raise InvalidInput."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("phone", _l("Please enter your mobile phone number."))
    raw = raw.strip()
    if len(raw) > 32:
        raise InvalidInput("phone", _l("The phone number is too long."))
    if _PHONE_CHARS.fullmatch(raw) is None or raw.count("+") > 1:
        raise InvalidInput(
            "phone", _l("The phone number can only contain the digits 0 to 9, spaces and +.")
        )
    bad = _l("This phone number is not valid. Please check it, for example 0912 345 678.")
    try:
        number = phonenumbers.parse(raw, "VN")
    except phonenumbers.NumberParseException:
        raise InvalidInput("phone", bad) from None
    if number.country_code != 84:
        raise InvalidInput("phone", _l("Please enter a Vietnamese mobile phone number."))
    if not phonenumbers.is_valid_number_for_region(number, "VN"):
        raise InvalidInput("phone", bad)
    # We send sign-in codes by SMS, so landlines and service numbers (1800/1900) are useless.
    if phonenumbers.number_type(number) not in _SMS_TYPES:
        raise InvalidInput(
            "phone",
            _l("Please enter a mobile phone number. We send codes by text message (SMS)."),
        )
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def mask_phone(e164: str) -> str:
    """Mask in national format, as people know their number: "+84912345678" -> "091****678"."""
    national = "0" + e164[3:] if e164.startswith("+84") else e164
    return f"{national[:3]}{'*' * (len(national) - 6)}{national[-3:]}"


# --- Names ------------------------------------------------------------------------------------

_NAME_PUNCTUATION = frozenset(" '-.")


def normalize_full_name(raw: str) -> str:
    """NFC, trimmed, single-spaced full name; diacritics are kept exactly as typed."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("full_name", _l("Please enter your full name."))
    too_long = _l("The full name is too long (at most 100 characters).")
    if len(raw) > 400:  # cheap bound before normalising hostile input
        raise InvalidInput("full_name", too_long)
    # NFC so that "Nguyễn" typed with combining marks equals the precomposed form in the DB;
    # the typographic apostrophe from phone keyboards becomes the ASCII one.
    name = " ".join(unicodedata.normalize("NFC", raw).replace("\u2019", "'").split())
    if any(c.isdigit() for c in name):  # any script's digits, not only 0-9
        raise InvalidInput("full_name", _l("The full name cannot contain numbers."))
    for c in name:
        if c not in _NAME_PUNCTUATION and unicodedata.category(c)[0] not in "LM":
            raise InvalidInput(
                "full_name",
                _l(
                    "The full name can only contain letters, spaces, apostrophes, hyphens and dots."
                ),
            )
    if unicodedata.category(name[0])[0] != "L":
        raise InvalidInput("full_name", _l("The full name must start with a letter."))
    if len(name) < 2:
        raise InvalidInput("full_name", _l("The full name is too short."))
    if len(name) > 100:
        raise InvalidInput("full_name", too_long)
    return name


_FOLD_TABLE = str.maketrans({"đ": "d", "Đ": "d"})


def fold_name(raw: str) -> str:
    """Lower case, without diacritics, single-spaced: "Nguyễn  Văn Ánh" -> "nguyen van anh".

    Stored beside the full name (``Citizen.name_folded``, indexed) so that staff can find
    "Nguyễn Văn A" by typing "nguyen van a": a prefix search is an index range scan.
    """
    decomposed = unicodedata.normalize("NFD", raw.translate(_FOLD_TABLE))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.translate(_FOLD_TABLE).lower().split())


def split_vietnamese_name(full_name: str) -> tuple[str, str]:
    """("Nguyễn", "Văn An"): the middle name goes with the given name, as usual in Vietnam."""
    parts = full_name.split()
    if len(parts) < 2:
        return "", "".join(parts)
    return parts[0], " ".join(parts[1:])


# --- Dates ------------------------------------------------------------------------------------

_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
# Vietnamese order day/month/year; "/", "." and "-" all appear on paper forms.
_VN_DATE = re.compile(r"([0-9]{1,2})([/.\-])([0-9]{1,2})\2([0-9]{4})")
_MIN_BIRTHDATE = date(1900, 1, 1)


def parse_birthdate(raw: str | date, *, today: date) -> date:
    """Parse "YYYY-MM-DD" or "dd/mm/yyyy"; refuse impossible, future and pre-1900 dates."""
    if isinstance(raw, datetime):  # datetime is a date subclass; drop the time part
        value = raw.date()
    elif isinstance(raw, date):
        value = raw
    else:
        if not isinstance(raw, str) or not raw.strip():
            raise InvalidInput("birthdate", _l("Please enter your date of birth."))
        text = raw.strip()
        if m := _ISO_DATE.fullmatch(text):
            year, month, day = int(m[1]), int(m[2]), int(m[3])
        elif m := _VN_DATE.fullmatch(text):
            year, month, day = int(m[4]), int(m[3]), int(m[1])
        else:
            raise InvalidInput(
                "birthdate",
                _l("Please enter the date of birth as day/month/year, for example 25/12/1960."),
            )
        try:
            value = date(year, month, day)
        except ValueError:
            raise InvalidInput(
                "birthdate", _l("This date does not exist. Please check the day and month.")
            ) from None
    if value > today:
        raise InvalidInput("birthdate", _l("The date of birth cannot be in the future."))
    if value < _MIN_BIRTHDATE:
        raise InvalidInput("birthdate", _l("The year of birth must be 1900 or later."))
    return value


# --- E-mail -----------------------------------------------------------------------------------

# RFC 5322 dot-atom local part; LDH domain labels; alphabetic or punycode TLD. ASCII only.
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59}))"
)


def normalize_email(raw: str | None) -> str | None:
    """Optional e-mail: blank -> None; otherwise checked, with only the domain lowercased."""
    if raw is None or not raw.strip():
        return None
    email = raw.strip()
    if len(email) > 254:
        raise InvalidInput("email", _l("The email address is too long."))
    if any(c.isspace() for c in email):
        raise InvalidInput("email", _l("The email address cannot contain spaces."))
    m = _EMAIL.fullmatch(email)
    local = email.rpartition("@")[0]
    if m is None or len(local) > 64:
        raise InvalidInput("email", _l("This email address is not valid. Example: ten@example.com"))
    # The local part may be case-sensitive (RFC 5321); domains never are.
    return f"{local}@{m[1].lower()}"


# --- Communes (wards) after the 1 July 2025 two-tier reform -----------------------------------


def _ward(raw: str | int) -> Ward:
    # A literal msgid (not a constant) so that pybabel extraction finds it.
    unknown = InvalidInput("commune_code", _l("Please choose a commune or ward from the list."))
    if isinstance(raw, str) and re.fullmatch(r"[0-9]{1,5}", raw.strip()):
        raw = int(raw.strip())
    # bool is an int subclass: True must not silently mean ward 1.
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise unknown
    try:
        return Ward.from_code(WardCode(raw))
    except ValueError:
        raise unknown from None


def normalize_commune_code(raw: str | int, *, province_code: int | None = None) -> str:
    """Return the 5-digit ward code ("05719"); optionally require it to be in one province."""
    ward = _ward(raw)
    if province_code is not None and ward.province_code != province_code:
        name = Province.from_code(ProvinceCode(province_code)).name
        raise InvalidInput(
            "commune_code", _l("Please choose a commune or ward in %(province)s.", province=name)
        )
    return f"{int(ward.code):05d}"


def commune_name(code: str) -> str:
    """Name of a ward: "05719" -> "Xã Sảng Mộc"."""
    return _ward(code).name


def commune_province_name(code: str) -> str:
    """Province of a ward: "05719" -> "Thái Nguyên"."""
    return Province.from_code(_ward(code).province_code).name


def describe_commune(code: str) -> str:
    """"Xã Sảng Mộc, Thái Nguyên" for display; the bare code if the unit no longer exists
    (a later reform must not break a citizen's pages)."""
    try:
        return f"{commune_name(code)}, {commune_province_name(code)}"
    except InvalidInput:
        return code


def _collation_key(name: str) -> tuple[str, str]:
    # Approximates Vietnamese order without ICU: compare base letters first (đ as d), then
    # fall back to the exact name so that tone-only differences still sort deterministically.
    base = "".join(c for c in unicodedata.normalize("NFD", name) if not unicodedata.combining(c))
    return base.replace("đ", "d").replace("Đ", "D").casefold(), name


@lru_cache(maxsize=64)
def _communes_of_province(province_code: int) -> tuple[tuple[str, str], ...]:
    wards = Ward.iter_by_province(ProvinceCode(province_code))  # ValueError if unknown
    pairs = ((f"{int(w.code):05d}", w.name) for w in wards)
    return tuple(sorted(pairs, key=lambda p: _collation_key(p[1])))


def communes_of_province(province_code: int = THAI_NGUYEN_PROVINCE_CODE) -> list[tuple[str, str]]:
    """[(code, name)] of every commune/ward in the province, sorted by name."""
    return list(_communes_of_province(province_code))
