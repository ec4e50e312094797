"""Validate, normalise and mask identifiers entered into customer credit files.

Validators return the normalised value or raise IdentifierError. Error messages name a position
or the expected check character, never the value itself, because it may be personal data.
"""

from __future__ import annotations

import datetime as dt

import phonenumbers
from email_validator import EmailNotValidError
from email_validator import validate_email as _email_validator

__all__ = [
    "USCC_ALPHABET",
    "IdentifierError",
    "mask_email",
    "mask_id",
    "mask_phone",
    "org_code_check_char",
    "resident_id_birth_date",
    "resident_id_check_char",
    "uscc_check_char",
    "validate_email",
    "validate_phone",
    "validate_resident_id",
    "validate_uscc",
]


class IdentifierError(ValueError):
    """An identifier failed validation; `code` is stable, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_DIGITS = "0123456789"

# --- Unified social credit code (GB 32100-2015) ---------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 characters a USCC may use: digits and uppercase letters except I, O, Z, S, V."""

_USCC_VALUES = {ch: i for i, ch in enumerate(USCC_ALPHABET)}
# 3**i mod 31 for i = 0..16, as tabulated in GB 32100-2015.
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_USCC_LETTERS_HINT = "a digit or an uppercase letter other than I, O, Z, S, V"


def _uscc_check(first17: str) -> str:
    total = sum(_USCC_VALUES[ch] * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def _org_code_check(first8: str) -> str:
    # GB 11714 values letters A=10 .. Z=35, not by their index in USCC_ALPHABET.
    total = sum(
        (int(ch) if ch in _DIGITS else ord(ch) - ord("A") + 10) * w
        for ch, w in zip(first8, _ORG_CODE_WEIGHTS, strict=True)
    )
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def _uscc_require_chars(code: str, *, digits_at: range = range(0)) -> None:
    for index, ch in enumerate(code):
        if index in digits_at:
            if ch not in _DIGITS:
                raise IdentifierError(
                    "invalid_character",
                    f"unified social credit code: position {index + 1} must be a digit",
                )
        elif ch not in _USCC_VALUES:
            raise IdentifierError(
                "invalid_character",
                f"unified social credit code: position {index + 1} must be {_USCC_LETTERS_HINT}",
            )


def _require_length(text: str, length: int, what: str) -> None:
    if len(text) != length:
        raise IdentifierError(
            "invalid_length", f"{what} must be {length} characters, got {len(text)}"
        )


def uscc_check_char(first17: str) -> str:
    """The 18th (check) character for the first 17 characters of a USCC."""
    body = first17.strip().upper()
    _require_length(body, 17, "unified social credit code body")
    _uscc_require_chars(body, digits_at=range(2, 8))
    return _uscc_check(body)


def org_code_check_char(first8: str) -> str:
    """The GB 11714 check character for an 8-character organisation code body."""
    body = first8.strip().upper()
    _require_length(body, 8, "organisation code body")
    _uscc_require_chars(body)
    return _org_code_check(body)


def validate_uscc(value: str) -> str:
    """Validate a unified social credit code and return it stripped and upper-cased."""
    code = value.strip().upper()
    _require_length(code, 18, "unified social credit code")
    # Positions 1-2 may be letters (e.g. N, Y registration authorities); 3-8 are a division code.
    _uscc_require_chars(code, digits_at=range(2, 8))
    # Some Xiamen codes issued before 2016 are known to fail this check; GB 32100 defines it, so
    # they are rejected rather than special-cased.
    expected = _uscc_check(code[:17])
    if code[17] != expected:
        raise IdentifierError(
            "invalid_checksum",
            f"unified social credit code: check character (position 18) should be "
            f"'{expected}', got '{code[17]}'",
        )
    # Positions 9-17 are a GB 11714 organisation code with its own check character; every real
    # code we could verify (including letter-bearing "M..." codes) satisfies it.
    expected = _org_code_check(code[8:16])
    if code[16] != expected:
        raise IdentifierError(
            "invalid_checksum",
            f"unified social credit code: organisation code check character (position 17) "
            f"should be '{expected}', got '{code[16]}'",
        )
    return code


# --- Resident identity card number (GB 11643-1999) ------------------------------------------

# ISO 7064 MOD 11-2: 2**(17-i) mod 11.
_RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_ID_CHECKS = "10X98765432"
_PROVINCE_CODES = frozenset(
    {*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55)}
    | {*range(61, 66), 71, 81, 82, 83, 91}
)
_EARLIEST_BIRTH_DATE = dt.date(1900, 1, 1)
# Birth dates on resident IDs are China dates, which run up to a day ahead of UTC.
_CHINA_TZ = dt.timezone(dt.timedelta(hours=8))


def _resident_id_check(first17: str) -> str:
    total = sum(int(ch) * w for ch, w in zip(first17, _RESIDENT_ID_WEIGHTS, strict=True))
    return _RESIDENT_ID_CHECKS[total % 11]


def _require_digits(text: str, what: str) -> None:
    for index, ch in enumerate(text):
        if ch not in _DIGITS:
            raise IdentifierError(
                "invalid_character", f"{what}: position {index + 1} must be a digit"
            )


def _birth_date(rid: str) -> dt.date:
    try:
        born = dt.date(int(rid[6:10]), int(rid[10:12]), int(rid[12:14]))
    except ValueError:
        raise IdentifierError(
            "invalid_birth_date",
            "resident ID number: birth date (positions 7-14) is not a real calendar date",
        ) from None
    if born < _EARLIEST_BIRTH_DATE:
        raise IdentifierError(
            "invalid_birth_date",
            "resident ID number: birth date (positions 7-14) is before 1900-01-01",
        )
    if born > dt.datetime.now(_CHINA_TZ).date():
        raise IdentifierError(
            "invalid_birth_date", "resident ID number: birth date (positions 7-14) is in the future"
        )
    return born


def resident_id_check_char(first17: str) -> str:
    """The 18th (check) character for the first 17 digits of a resident ID number."""
    body = first17.strip()
    _require_length(body, 17, "resident ID number body")
    _require_digits(body, "resident ID number")
    return _resident_id_check(body)


def validate_resident_id(value: str) -> str:
    """Validate an 18-digit resident ID number and return it stripped, with an uppercase X."""
    rid = value.strip().upper()
    _require_length(rid, 18, "resident ID number")
    _require_digits(rid[:17], "resident ID number")
    if rid[17] not in "0123456789X":
        raise IdentifierError(
            "invalid_character", "resident ID number: position 18 must be a digit or X"
        )
    if int(rid[:2]) not in _PROVINCE_CODES:
        raise IdentifierError(
            "invalid_region", "resident ID number: positions 1-2 are not a valid province code"
        )
    _birth_date(rid)
    expected = _resident_id_check(rid[:17])
    if rid[17] != expected:
        raise IdentifierError(
            "invalid_checksum",
            f"resident ID number: check character (position 18) should be "
            f"'{expected}', got '{rid[17]}'",
        )
    return rid


def resident_id_birth_date(value: str) -> dt.date:
    """The birth date encoded in a valid resident ID number."""
    return _birth_date(validate_resident_id(value))


# --- Phone and e-mail ---------------------------------------------------------------------

_PHONE_PARSE_MESSAGES = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown or missing country code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "does not look like a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the country code",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}


def validate_phone(value: str, default_region: str = "CN") -> str:
    """Validate a phone number and return it in E.164 form, e.g. '+8613812345678'."""
    region = default_region.upper()
    try:
        number = phonenumbers.parse(value.strip(), region)
    except phonenumbers.NumberParseException as exc:
        reason = _PHONE_PARSE_MESSAGES.get(exc.error_type, "could not be parsed")
        raise IdentifierError("invalid_phone", f"phone number: {reason}") from None
    # E.164 has no room for an extension; dropping it silently would lose data.
    if number.extension:
        raise IdentifierError("invalid_phone", "phone number: extensions are not supported")
    if not phonenumbers.is_valid_number(number):
        raise IdentifierError(
            "invalid_phone",
            f"phone number is not valid (numbers without a +country code are read as "
            f"{region} numbers)",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate_email(value: str) -> str:
    """Validate an e-mail address (syntax only, no DNS) and return its normalised form."""
    text = value.strip()
    try:
        result = _email_validator(text, check_deliverability=False)
    except EmailNotValidError as exc:
        reason = str(exc)
        # The library names bad characters or domain parts; never let it echo the whole address.
        if not reason or (text and text in reason):
            reason = "it does not follow the address syntax rules."
        raise IdentifierError("invalid_email", f"e-mail address is not valid: {reason}") from None
    return result.normalized


# --- Masks for display --------------------------------------------------------------------


def _mask_middle(text: str, head: int, tail: int, stars: str) -> str:
    # Too short to show both ends without revealing (nearly) everything.
    if len(text) <= head + tail:
        return stars
    return text[:head] + stars + text[len(text) - tail :]


def mask_phone(value: str) -> str:
    """Mask a phone number: '+8613812345678' -> '138****5678'; other countries keep '+'."""
    try:
        number = phonenumbers.parse(value.strip(), "CN")
    except phonenumbers.NumberParseException:
        digits = "".join(ch for ch in value if ch in _DIGITS)
        return _mask_middle(digits, 3, 4, "****")
    if number.country_code == 86:
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        return _mask_middle("".join(ch for ch in national if ch in _DIGITS), 3, 4, "****")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return "+" + _mask_middle(e164[1:], 3, 4, "****")


def mask_id(value: str) -> str:
    """Mask a resident ID number: first 6 + '********' + last 4."""
    return _mask_middle(value.strip().upper(), 6, 4, "********")


def mask_email(value: str) -> str:
    """Mask an e-mail address: first character + '***@' + domain."""
    local, at, domain = value.strip().rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"
