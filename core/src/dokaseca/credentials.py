"""Reading a ``username:`` / ``password:`` YAML file (a BMC's, a vCenter's)
without ever echoing what is in it."""

from __future__ import annotations

import yaml


class CredentialsFileProblem(Exception):
    """What is wrong with the file and how to fix it; never any of its content."""

    def __init__(self, what: str, hint: str) -> None:
        super().__init__(f"{what}; {hint}")
        self.what, self.hint = what, hint


def username_password(text: str) -> tuple[str, str]:
    """The (username, password) of a credentials file's ``text``."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # PyYAML's own message quotes the offending line, which may hold the password.
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark else ""
        raise CredentialsFileProblem(f"is not valid YAML{line}", "write 'username: ...' and 'password: ...'") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(key), str) and data[key] for key in ("username", "password")):
        raise CredentialsFileProblem("has no username and password", "write 'username: ...' and 'password: ...' (strings)")
    return data["username"], data["password"]
