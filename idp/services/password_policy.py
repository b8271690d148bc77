"""Which new passwords are acceptable (NIST SP 800-63B §3.1.1.2): length, not composition."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from idp.services.identifiers import InvalidInput
from idp.services.passwords import normalize_password

MIN_LENGTH = 8
# Long passphrases are welcome; the cap only stops megabyte "passwords" used as a DoS.
MAX_LENGTH = 256


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
    if any(value and folded == value.casefold() for value in personal_values):
        raise InvalidInput(
            "password",
            _l("Do not use your citizen ID number, phone number or birthdate as the password."),
        )
    return password
