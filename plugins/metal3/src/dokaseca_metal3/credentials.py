"""Read a host's BMC credentials from where the inventory names them.

Only ``prepare`` calls this. The values go into the host's Secret and nowhere
else: errors name the host, the variable or the file, never what is in them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from dokaseca.credentials import CredentialsFileProblem, username_password
from dokaseca.errors import ProviderError

from dokaseca_metal3.inventory import Inventory, Metal3Host


def read(inventory: Inventory, index: int, host: Metal3Host) -> tuple[str, str]:
    """The host's (username, password)."""
    bmc = host.bmc

    def fail(field: str, what: str, hint: str) -> ProviderError:
        return ProviderError(f"host {host.name!r} ({inventory.where(index, f'bmc.{field}')}): {what}; {hint}")

    def from_env(field: str, name: str) -> str:
        value = os.environ.get(name)
        if value is None:
            raise fail(field, f"environment variable {name} is not set", f"export {name} before running prepare")
        if not value:
            raise fail(field, f"environment variable {name} is empty", f"export {name} with the BMC's {field.removesuffix('Env')}")
        return value

    def file_text(field: str, name: str) -> str:
        path = inventory.folder / Path(name).expanduser()
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise fail(field, f"cannot read {path}: {reason}", "the path is relative to the file that lists the host") from None

    def from_file(field: str, name: str) -> str:
        value = file_text(field, name).rstrip("\r\n")  # as written by `echo` or an editor
        if not value:
            raise fail(field, f"{inventory.folder / name} is empty", "write the value on the file's first line")
        return value

    if bmc.credentials_file is not None:
        text = file_text("credentialsFile", bmc.credentials_file)
        try:
            return username_password(text)
        except CredentialsFileProblem as problem:
            raise fail("credentialsFile", f"{bmc.credentials_file} {problem.what}", problem.hint) from None

    username: Optional[str] = bmc.username
    if bmc.username_env is not None:
        username = from_env("usernameEnv", bmc.username_env)
    elif bmc.username_file is not None:
        username = from_file("usernameFile", bmc.username_file)
    if bmc.password_env is not None:
        password = from_env("passwordEnv", bmc.password_env)
    elif bmc.password_file is not None:
        password = from_file("passwordFile", bmc.password_file)
    else:  # pragma: no cover - the inventory's validators require a source
        raise fail("passwordEnv", "names no password", "set passwordEnv or passwordFile")
    if not username:  # pragma: no cover - the inventory's validators require a source
        raise fail("usernameEnv", "names no username", "set usernameEnv, usernameFile or username")
    return username, password
