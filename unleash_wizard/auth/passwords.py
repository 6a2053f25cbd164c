"""What makes an acceptable username and password for a local account."""

import unicodedata

MIN_PASSWORD_LENGTH = 12
# Hashing cost grows with length; no password manager needs more.
MAX_PASSWORD_LENGTH = 1024
MAX_USERNAME_LENGTH = 255


def character_class(char: str) -> str:
    """Return the kind of char: lowercase, uppercase, digit or other."""
    if char.islower():
        return "lowercase"
    if char.isupper():
        return "uppercase"
    if char.isdigit():
        return "digit"
    return "other"


def password_problems(password: str, user_name: str = "") -> list[str]:
    """Return what is wrong with password for this username, or nothing when it will do."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    if password and len({character_class(char) for char in password}) < 2:
        problems.append(
            "Mix at least two kinds of characters: lowercase letters, uppercase letters, "
            "digits, symbols or spaces."
        )
    if user_name and password.strip().lower() == user_name.strip().lower():
        problems.append("The password must not be the username.")
    return problems


def username_problem(user_name: str) -> str | None:
    """Return what is wrong with user_name, or None when it will do."""
    if not user_name:
        return "Enter a username."
    if len(user_name) > MAX_USERNAME_LENGTH:
        return f"Use at most {MAX_USERNAME_LENGTH} characters."
    if any(char.isspace() or unicodedata.category(char).startswith("C") for char in user_name):
        return "A username cannot contain spaces or control characters."
    return None
