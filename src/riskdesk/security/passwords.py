"""Password hashing with argon2 and the password policy.

The policy follows NIST SP 800-63B: a length of at least 12 characters, a check against common
and breached passwords, and no composition rules (they push people towards "Password1!"). The
check is zxcvbn's: its frequency lists (common passwords, names, words) and patterns (keyboard
walks, sequences, repeats, dates, l33t spellings) estimate how many guesses a password takes;
too few, and it is refused. A password that holds the user's own name is refused as well.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()

MIN_LENGTH = 12
MAX_LENGTH = 256
# zxcvbn's score 3: about 10^8 guesses or more ("safely unguessable" for an online attack, some
# protection offline). Scores 0-2 are the frequency lists' entries and their easy variations.
MIN_STRENGTH = 3
# zxcvbn's time grows with the length and it refuses long inputs; the first characters are
# enough to judge (a longer password is never weaker than its beginning).
_ESTIMATE_CHARS = 64
# A name shorter than this inside a password says little ("li", "ops"); zxcvbn still
# weighs it as a known word.
_MIN_NAME_CHARS = 4
# zxcvbn keeps the user's words in a module-level dictionary for the call: one at a time.
_estimate_lock = threading.Lock()


@dataclass(frozen=True)
class PasswordProblem:
    """Why a password is refused: a stable code (the UI translates it) and a message."""

    code: str
    message: str


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when the password matches the hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)


def check_password(password: str, *, names: tuple[str, ...] = ()) -> PasswordProblem | None:
    """Why a password is not acceptable (its user's ``names`` in mind), or None when it is."""
    if len(password) < MIN_LENGTH:
        return PasswordProblem(
            "password_too_short", f"must be at least {MIN_LENGTH} characters long"
        )
    if len(password) > MAX_LENGTH:
        return PasswordProblem("password_too_long", f"must be at most {MAX_LENGTH} characters")
    lowered = password.casefold()
    for name in names:
        if len(name) >= _MIN_NAME_CHARS and name.casefold() in lowered:
            return PasswordProblem(
                "password_contains_name", "must not contain the user name or display name"
            )
    from zxcvbn import zxcvbn  # its lists take a moment to load: only where passwords are set

    with _estimate_lock:
        estimate = zxcvbn(password[:_ESTIMATE_CHARS], user_inputs=[n for n in names if n])
    if estimate["score"] < MIN_STRENGTH:
        warning = estimate["feedback"].get("warning") or "it is a common word or pattern"
        return PasswordProblem(
            "password_too_common",
            f"is too easy to guess ({warning.rstrip('.')}); a few unrelated words make a "
            "strong one",
        )
    return None


def password_problem(password: str, *, names: tuple[str, ...] = ()) -> str | None:
    """The message of :func:`check_password`, or None."""
    problem = check_password(password, names=names)
    return problem.message if problem else None
