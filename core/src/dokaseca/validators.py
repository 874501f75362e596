"""attrs validators that explain themselves.

They raise :class:`InvalidValue`, which carries the bad value and a hint, so
the fleet loader can report ``clusters[0].name: must be a DNS-1123 label
(got 'Prod_1'); use lower-case letters, digits and '-'``.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import ipaddress
import re
from typing import Any, Iterable, Optional

import attrs

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
KUBERNETES_VERSION = re.compile(r"^v\d+\.\d+\.\d+$")
ADDON_NAME = re.compile(r"^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$")


class InvalidValue(ValueError):
    def __init__(self, message: str, value: Any, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.value = value
        self.hint = hint


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ``did you mean 'x'?`` hint, or a list of the valid choices."""
    choices = sorted(set(choices))
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    if not choices:
        return ""
    return "expected one of: " + ", ".join(repr(c) for c in choices)


def dns_label(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str) or len(value) > 63 or not DNS1123_LABEL.match(value):
        raise InvalidValue(
            "must be a DNS-1123 label",
            value,
            "use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit",
        )


def addon_names(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """Keys of a map per addon (a provider's addon roles, identities, service
    accounts): the GitOps metadata turns them into ``<addon>_...`` annotations."""
    for name in value:
        if not ADDON_NAME.match(name) or len(name) > 40:
            raise InvalidValue(
                f"addon name {name!r} cannot be used", name, "use lower-case letters, digits, '-' or '_' (at most 40), e.g. 'external_dns'"
            )


def kubernetes_version(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not KUBERNETES_VERSION.match(value):
        raise InvalidValue(
            "is not a Kubernetes version", value, "write it as vMAJOR.MINOR.PATCH, e.g. 'v1.33.1'"
        )


def is_cidr(block: Any) -> bool:
    """A network address with a prefix length, no host bits set."""
    try:
        ipaddress.ip_network(block, strict=True)
    except (TypeError, ValueError):
        return False
    return True


def cidrs(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    for index, block in enumerate(value or ()):
        if not is_cidr(block):
            raise InvalidValue(
                f"entry {index} is not a CIDR block",
                block,
                "write a network address with a prefix length, e.g. '10.96.0.0/12'",
            )


def cidrs_overlap(first: str, second: str) -> bool:
    a, b = ipaddress.ip_network(first), ipaddress.ip_network(second)
    return a.version == b.version and a.overlaps(b)


def one_of(*choices: str):
    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value is not None and value not in choices:
            raise InvalidValue("is not a valid choice", value, did_you_mean(str(value), choices))

    return check


def non_negative(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and value < 0:
        raise InvalidValue("must be zero or more", value)


def positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and value < 1:
        raise InvalidValue("must be at least 1", value)


def ip_address(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is None:
        return
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise InvalidValue("is not an IP address", value, "write an IPv4 or IPv6 address such as '192.168.10.5'") from None


SSH_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
SSH_KEY_MAX_LENGTH = 2048  # CABPK's limit per authorized key


def _is_base64(text: str) -> bool:
    # sshd skips an authorized key whose body does not decode: better said by validate than found at login.
    try:
        return bool(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        return False


def ssh_public_key_problem(key: str) -> Optional[InvalidValue]:
    """Why ``key`` is not one OpenSSH public key line, or None. Never echoes a private key."""
    if "PRIVATE KEY" in key:
        # The message may end up in CI logs: say what it is, never show it.
        return InvalidValue("is a private key", "<private key, not shown>", "paste the public key (the .pub file) and rotate this one")
    parts = key.split()
    if len(parts) < 2 or parts[0] not in SSH_KEY_TYPES or not _is_base64(parts[1]):
        return InvalidValue("is not an OpenSSH public key", key, "paste one line of a .pub file, e.g. 'ssh-ed25519 AAAAC3... user@host'")
    if len(key) > SSH_KEY_MAX_LENGTH:
        return InvalidValue(f"is longer than {SSH_KEY_MAX_LENGTH} characters", key[:40] + "...", "use an ed25519 key")
    return None


def ssh_public_keys(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    for index, key in enumerate(value or ()):
        problem = ssh_public_key_problem(key)
        if problem is not None:
            raise InvalidValue(f"entry {index} {problem.message}", problem.value, problem.hint)
