"""Identifier validation, normalisation and masking."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskdesk.kit.identifiers import (
    USCC_ALPHABET,
    IdentifierError,
    mask_email,
    mask_id,
    mask_phone,
    org_code_check_char,
    resident_id_birth_date,
    resident_id_check_char,
    uscc_check_char,
    validate_email,
    validate_phone,
    validate_resident_id,
    validate_uscc,
)

DIGITS = "0123456789"
# Published codes of real companies (public registration data, not personal data).
REAL_USCCS = [
    "91350100M000100Y43",
    "91110000600037341L",
    "914403001922038216",  # Huawei Technologies
    "91440300708461136T",  # Shenzhen Tencent Computer Systems
    "12440600MB2C07549J",  # a public institution; letters in the organisation code
]
# The worked example in GB 11643-1999 itself.
STANDARD_RESIDENT_ID = "11010519491231002X"
PROVINCES = [
    *(11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46),
    *(50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91),
]


def error_code(func: Callable[[str], object], value: str) -> str:
    """Run a validator that must fail and return its error code."""
    with pytest.raises(IdentifierError) as info:
        func(value)
    assert str(info.value) == info.value.message
    return info.value.code


def with_uscc_checks(first16: str) -> str:
    """Complete 16 characters into a valid USCC (organisation check, then overall check)."""
    first17 = first16 + org_code_check_char(first16[8:16])
    return first17 + uscc_check_char(first17)


def with_resident_id_check(first17: str) -> str:
    """Complete 17 digits into a valid resident ID number."""
    return first17 + resident_id_check_char(first17)


uscc_chars = st.sampled_from(USCC_ALPHABET)
digits = st.sampled_from(DIGITS)


@st.composite
def valid_usccs(draw: st.DrawFn) -> str:
    """Any structurally valid USCC."""
    head = "".join(draw(st.lists(uscc_chars, min_size=2, max_size=2)))
    division = "".join(draw(st.lists(digits, min_size=6, max_size=6)))
    org_body = "".join(draw(st.lists(uscc_chars, min_size=8, max_size=8)))
    return with_uscc_checks(head + division + org_body)


@st.composite
def valid_resident_ids(draw: st.DrawFn) -> str:
    """Any valid resident ID number with a birth date between 1900 and yesterday."""
    province = draw(st.sampled_from(PROVINCES))
    area = "".join(draw(st.lists(digits, min_size=4, max_size=4)))
    yesterday = dt.date.today() - dt.timedelta(days=1)
    born = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=yesterday))
    sequence = "".join(draw(st.lists(digits, min_size=3, max_size=3)))
    return with_resident_id_check(f"{province}{area}{born:%Y%m%d}{sequence}")


def test_identifier_error_is_a_value_error() -> None:
    # Pydantic validators turn ValueError into field errors, so this must stay a ValueError.
    assert issubclass(IdentifierError, ValueError)
    error = IdentifierError("invalid_length", "too short")
    assert (error.code, error.message, str(error)) == ("invalid_length", "too short", "too short")


# --- USCC -----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", REAL_USCCS)
def test_real_uscc_codes_validate(code: str) -> None:
    assert validate_uscc(code) == code
    assert uscc_check_char(code[:17]) == code[17]
    assert org_code_check_char(code[8:16]) == code[16]


def test_uscc_is_stripped_and_upper_cased() -> None:
    assert validate_uscc("  91350100m000100y43\n") == "91350100M000100Y43"


def test_uscc_wrong_check_character_names_expected_and_actual() -> None:
    with pytest.raises(IdentifierError) as info:
        validate_uscc("91350100M000100Y44")
    assert info.value.code == "invalid_checksum"
    assert str(info.value) == (
        "unified social credit code: check character (position 18) should be '3', got '4'"
    )


def test_uscc_organisation_code_check_is_enforced() -> None:
    # Position 17 broken, position 18 recomputed so only the inner check can catch it.
    first17 = "91350100M000100Y5"
    code = first17 + uscc_check_char(first17)
    with pytest.raises(IdentifierError) as info:
        validate_uscc(code)
    assert info.value.code == "invalid_checksum"
    assert "position 17" in str(info.value)
    assert "should be '4', got '5'" in str(info.value)


def test_organisation_code_check_uses_gb11714_letter_values() -> None:
    # GB 11714 values M as 22 (A=10..Z=35), not as its index 21 in the USCC alphabet.
    assert org_code_check_char("MB2C0754") == "9"
    assert org_code_check_char("60003734") == "1"


def test_organisation_check_maps_10_to_x_and_11_to_0() -> None:
    assert org_code_check_char("00000006") == "X"  # 6*2 = 12; 11 - 12 % 11 = 10
    assert org_code_check_char("00000000") == "0"  # 11 - 0 = 11


@pytest.mark.parametrize("value", ["", "9135010", "91350100M000100Y431", "91350100M000100Y4"])
def test_uscc_wrong_length(value: str) -> None:
    assert error_code(validate_uscc, value) == "invalid_length"


@pytest.mark.parametrize(
    ("value", "position"),
    [
        ("I1350100M000100Y43", 1),
        ("9O350100M000100Y43", 2),
        ("91A50100M000100Y43", 3),
        ("9135010ZM000100Y43", 8),
        ("91350100S000100Y43", 9),
        ("91350100M000100V43", 16),
        ("91350100M000100Y4-", 18),
        ("91350100M000100Y4９", 18),  # full-width digit
    ],
)
def test_uscc_invalid_character_reports_position(value: str, position: int) -> None:
    with pytest.raises(IdentifierError) as info:
        validate_uscc(value)
    assert info.value.code == "invalid_character"
    assert f"position {position} " in str(info.value)


def test_uscc_allows_letters_in_first_two_positions() -> None:
    code = with_uscc_checks("N2350100M000100Y")
    assert validate_uscc(code) == code
    code = with_uscc_checks("Y1110000MA000000")
    assert validate_uscc(code) == code


def test_uscc_check_char_rejects_bad_bodies() -> None:
    assert error_code(uscc_check_char, "913501") == "invalid_length"
    assert error_code(uscc_check_char, "9135010OM000100Y4") == "invalid_character"
    assert error_code(org_code_check_char, "M00010") == "invalid_length"
    assert error_code(org_code_check_char, "M00010I0") == "invalid_character"


@given(valid_usccs())
def test_any_body_with_computed_checks_validates(code: str) -> None:
    assert validate_uscc(code) == code
    assert validate_uscc(code.lower()) == code


@given(valid_usccs(), st.integers(min_value=0, max_value=17), st.data())
def test_any_single_character_change_breaks_uscc(
    code: str, index: int, data: st.DataObject
) -> None:
    allowed = DIGITS if 2 <= index <= 7 else USCC_ALPHABET
    replacement = data.draw(st.sampled_from([ch for ch in allowed if ch != code[index]]))
    changed = code[:index] + replacement + code[index + 1 :]
    assert error_code(validate_uscc, changed) == "invalid_checksum"


# --- Resident ID ----------------------------------------------------------------------------


def test_standard_example_resident_id_validates() -> None:
    assert validate_resident_id(STANDARD_RESIDENT_ID) == STANDARD_RESIDENT_ID
    assert resident_id_check_char(STANDARD_RESIDENT_ID[:17]) == "X"
    assert resident_id_birth_date(STANDARD_RESIDENT_ID) == dt.date(1949, 12, 31)


def test_resident_id_lowercase_x_and_whitespace_are_normalised() -> None:
    assert validate_resident_id(" 11010519491231002x\t") == STANDARD_RESIDENT_ID


def test_resident_id_wrong_check_character() -> None:
    with pytest.raises(IdentifierError) as info:
        validate_resident_id("110105194912310021")
    assert info.value.code == "invalid_checksum"
    assert str(info.value) == (
        "resident ID number: check character (position 18) should be 'X', got '1'"
    )


@pytest.mark.parametrize("value", ["", "11010519491231002", "11010519491231002X1"])
def test_resident_id_wrong_length(value: str) -> None:
    assert error_code(validate_resident_id, value) == "invalid_length"


@pytest.mark.parametrize(
    ("value", "position"),
    [
        ("1101051949123100AX", 17),
        ("X10105194912310021", 1),
        ("11010519491231002Y", 18),
        ("１1010519491231002X", 1),  # full-width digit
    ],
)
def test_resident_id_invalid_character(value: str, position: int) -> None:
    with pytest.raises(IdentifierError) as info:
        validate_resident_id(value)
    assert info.value.code == "invalid_character"
    assert f"position {position} " in str(info.value)


@pytest.mark.parametrize("province", ["00", "10", "16", "24", "30", "47", "60", "72", "84", "99"])
def test_resident_id_unknown_province(province: str) -> None:
    value = with_resident_id_check(province + "010519491231002")
    assert error_code(validate_resident_id, value) == "invalid_region"


@pytest.mark.parametrize(
    ("birth", "reason"),
    [
        ("19490230", "not a real calendar date"),
        ("19491301", "not a real calendar date"),
        ("19490000", "not a real calendar date"),
        ("21000101", "in the future"),
        ("18991231", "before 1900-01-01"),
    ],
)
def test_resident_id_bad_birth_date(birth: str, reason: str) -> None:
    value = with_resident_id_check(f"110105{birth}002")
    with pytest.raises(IdentifierError) as info:
        validate_resident_id(value)
    assert info.value.code == "invalid_birth_date"
    assert reason in str(info.value)


def test_gb11643_example_born_1880_is_rejected_by_the_1900_rule() -> None:
    # The standard's second example has a correct checksum but predates our 1900 floor.
    assert resident_id_check_char("44052418800101001") == "4"
    assert error_code(validate_resident_id, "440524188001010014") == "invalid_birth_date"


def test_leap_day_birth_date() -> None:
    assert validate_resident_id(with_resident_id_check("11010520000229001"))
    assert error_code(validate_resident_id, with_resident_id_check("11010519000229001")) == (
        "invalid_birth_date"
    )


def test_birth_date_requires_a_valid_id() -> None:
    assert error_code(resident_id_birth_date, "110105194912310021") == "invalid_checksum"


def test_resident_id_check_char_rejects_bad_bodies() -> None:
    assert error_code(resident_id_check_char, "1101051949") == "invalid_length"
    assert error_code(resident_id_check_char, "1101051949123100X") == "invalid_character"


@given(valid_resident_ids())
def test_any_17_digits_with_computed_check_validate(rid: str) -> None:
    assert validate_resident_id(rid) == rid
    assert validate_resident_id(rid.lower()) == rid
    assert resident_id_birth_date(rid) == dt.date(int(rid[6:10]), int(rid[10:12]), int(rid[12:14]))


@given(valid_resident_ids(), st.integers(min_value=0, max_value=17), st.data())
def test_any_single_character_change_breaks_resident_id(
    rid: str, index: int, data: st.DataObject
) -> None:
    allowed = DIGITS + "X" if index == 17 else DIGITS
    replacement = data.draw(st.sampled_from([ch for ch in allowed if ch != rid[index]]))
    changed = rid[:index] + replacement + rid[index + 1 :]
    code = error_code(validate_resident_id, changed)
    assert code in {"invalid_checksum", "invalid_region", "invalid_birth_date"}


# --- Messages never echo the value ----------------------------------------------------------


@given(st.text(alphabet=DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=5, max_size=20))
def test_error_messages_do_not_contain_the_value(value: str) -> None:
    for validator in (validate_uscc, validate_resident_id, validate_phone, validate_email):
        try:
            validator(value)
        except IdentifierError as exc:
            assert value not in str(exc)


# --- Phone ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("13812345678", "+8613812345678"),
        ("138 1234 5678", "+8613812345678"),
        ("+86 138-1234-5678", "+8613812345678"),
        ("  +8613812345678 ", "+8613812345678"),
        ("010-12345678", "+861012345678"),
        ("(0755) 8601 3388", "+8675586013388"),
        ("+1 415 555 2671", "+14155552671"),
        ("+852 9123 4567", "+85291234567"),
    ],
)
def test_valid_phones_become_e164(value: str, expected: str) -> None:
    assert validate_phone(value) == expected


def test_phone_default_region() -> None:
    assert validate_phone("020 7946 0958", default_region="GB") == "+442079460958"
    assert validate_phone("(415) 555-2671", "us") == "+14155552671"


@pytest.mark.parametrize(
    "value",
    ["", "abc", "12345", "+86 138 1234 567", "+999 1234 5678", "010-12345678 ext. 123"],
)
def test_invalid_phones(value: str) -> None:
    assert error_code(validate_phone, value) == "invalid_phone"


def test_phone_extension_message() -> None:
    with pytest.raises(IdentifierError, match="extensions are not supported"):
        validate_phone("010-12345678 ext. 123")


# --- E-mail ---------------------------------------------------------------------------------


def test_email_is_normalised() -> None:
    assert validate_email("  Alice@Example.COM ") == "Alice@example.com"


@pytest.mark.parametrize(
    "value", ["", "alice", "alice@", "@example.com", "a@b", "a..b@example.com", "a b@example.com"]
)
def test_invalid_emails(value: str) -> None:
    assert error_code(validate_email, value) == "invalid_email"


def test_email_message_does_not_echo_address() -> None:
    with pytest.raises(IdentifierError) as info:
        validate_email("alice.smith@example..com")
    assert "alice.smith" not in str(info.value)
    assert str(info.value).startswith("e-mail address is not valid: ")


# --- Masks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("+8613812345678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("+861012345678", "010****5678"),
        ("+14155552671", "+141****2671"),
        ("+442079460958", "+442****0958"),
        ("not a phone", "****"),
        ("123", "****"),
    ],
)
def test_mask_phone(value: str, masked: str) -> None:
    assert mask_phone(value) == masked


def test_mask_id() -> None:
    assert mask_id(STANDARD_RESIDENT_ID) == "110105********002X"
    assert mask_id(" 11010519491231002x ") == "110105********002X"
    assert mask_id("1234567") == "********"


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("alice@example.com", "a***@example.com"),
        (" bob@example.org ", "b***@example.org"),
        ("@example.com", "***@example.com"),
        ("no-at-sign", "***"),
    ],
)
def test_mask_email(value: str, masked: str) -> None:
    assert mask_email(value) == masked


@given(valid_resident_ids())
def test_masked_id_hides_the_birth_date(rid: str) -> None:
    masked = mask_id(rid)
    assert len(masked) == 18
    assert masked[6:14] == "*" * 8
