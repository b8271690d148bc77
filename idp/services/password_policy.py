"""Which new passwords are acceptable (NIST SP 800-63B §3.1.1.2): length, not composition, and
not on a blocklist.

- At least 8 and at most 256 characters after NFC normalisation; any Unicode (Vietnamese
  diacritics welcome, spaces allowed); no "one digit, one capital" rules.
- Refused when it is a common password: zxcvbn's frequency list of leaked passwords (30 000
  entries) plus a short list of common Vietnamese ones shipped in ``data/``. Compared
  case-insensitively, without diacritics, spaces or punctuation, and also with trailing digits
  removed ("Mật khẩu 2025" is "matkhau", which is on the list).
- Refused when it is the citizen's own CCCD, phone number or birthdate (in the common formats).
- ``estimate_strength`` gives zxcvbn's 0–4 score for the hint on the page; it never refuses.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import date
from functools import cache
from pathlib import Path

from flask_babel import lazy_gettext as _l

from idp.services.identifiers import InvalidInput
from idp.services.passwords import normalize_password

MIN_LENGTH = 8
# Long passphrases are welcome; the cap only stops megabyte "passwords" used as a DoS.
MAX_LENGTH = 256
# zxcvbn refuses longer input (and its matching grows with the square of the length).
_ESTIMATE_PREFIX = 72
_VI_LIST = Path(__file__).parent / "data" / "common_passwords_vi.txt"


def check_new_password(password: str, *, personal_values: tuple[str, ...] = ()) -> str:
    """Return the NFC password or raise InvalidInput("password", ...)."""
    password = normalize_password(password)
    if len(password) < MIN_LENGTH:
        raise InvalidInput("password", _l("The password must have at least 8 characters."))
    if len(password) > MAX_LENGTH:
        raise InvalidInput("password", _l("The password must have at most 256 characters."))
    if not password.strip():
        raise InvalidInput("password", _l("The password cannot be only spaces."))
    folded = password.strip().casefold()
    key = fold(password)
    if any(value and (folded == value.casefold() or (key and key == fold(value)))
           for value in personal_values):
        raise InvalidInput(
            "password",
            _l("Do not use your citizen ID number, phone number or birthdate as the password."),
        )
    if is_common(password):
        raise InvalidInput(
            "password",
            _l("This password is too common and easy to guess. Please choose another one, for "
               "example a short sentence you will remember."),
        )
    return password


def is_common(password: str) -> bool:
    """On the blocklist, or one character repeated ("aaaaaaaa", "........")."""
    key = fold(password)
    if len(set(key or password.strip())) <= 1:
        return True
    blocklist = _blocklist()
    if key in blocklist:
        return True
    base = key.rstrip("0123456789")  # "matkhau2025", "iloveyou123"
    return bool(base) and base != key and base in blocklist


def estimate_strength(password: str, *, user_inputs: Iterable[str] = ()) -> int:
    """zxcvbn's score: 0 (too guessable) … 4 (very unguessable). For hints, never for refusal
    (NIST SP 800-63B: no composition rules; the blocklist does the refusing)."""
    from zxcvbn import zxcvbn  # imported on first use: start-up stays fast

    password = normalize_password(password)[:_ESTIMATE_PREFIX]
    if not password:
        return 0
    inputs = [fold(value) for value in user_inputs if value][:20]
    # zxcvbn's dictionaries are ASCII: score the folded form too and keep the lower one, so
    # "Mật khẩu" is not rated better than "matkhau" for its diacritics alone.
    scores = [zxcvbn(password, user_inputs=inputs)["score"]]
    if (plain := strip_diacritics(password)) != password:
        scores.append(zxcvbn(plain, user_inputs=inputs)["score"])
    return min(scores)


def personal_values(*, cccd: str, phone: str, birthdate: date,
                    full_name: str | None = None) -> tuple[str, ...]:
    """The citizen's own values a password must not equal: CCCD, phone (E.164 and national),
    birthdate in the formats people write it, and the name without spaces or diacritics."""
    d = birthdate
    values = [
        cccd, phone, "0" + phone[3:] if phone.startswith("+84") else phone,
        d.isoformat(), d.strftime("%d/%m/%Y"), d.strftime("%d%m%Y"), d.strftime("%Y%m%d"),
        f"{d.day}/{d.month}/{d.year}", d.strftime("%d%m%y"), f"{d.day}{d.month}{d.year}",
    ]
    if full_name:
        values.append(full_name)
    return tuple(values)


def strip_diacritics(text: str) -> str:
    """"Đường lên Tam Đảo" -> "Duong len Tam Dao" (đ is a letter of its own, not d + mark)."""
    decomposed = unicodedata.normalize("NFD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.replace("đ", "d").replace("Đ", "D")


def fold(text: str) -> str:
    """The comparison key: lower case, no diacritics, letters and digits only."""
    return "".join(c for c in strip_diacritics(text).casefold() if c.isalnum())


@cache
def _blocklist() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    words = {fold(w) for w in FREQUENCY_LISTS["passwords"]}
    for line in _VI_LIST.read_text(encoding="utf-8").splitlines():
        if (line := line.strip()) and not line.startswith("#"):
            words.add(fold(line))
    words.discard("")
    return frozenset(words)
