"""The validators' own rules, whichever provider uses them."""

import pytest

from dokaseca.validators import InvalidValue, addon_names, ssh_public_key_problem

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests ops@example.com"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (KEY, None),
        ("ssh-dss AAAAB3NzaC1kc3M= ops@example.com", "is not an OpenSSH public key"),
        ("AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests", "is not an OpenSSH public key"),
        # A body that is not base64 is no key, whatever its type says (a line cut or pasted into).
        ("ssh-ed25519 AAAAC3Nz/not*base64 ops@example.com", "is not an OpenSSH public key"),
        (KEY.replace("ops@", "ops" + "x" * 2048 + "@"), "is longer than 2048 characters"),
    ],
)
def test_ssh_public_key_problem(key: str, message: str | None) -> None:
    problem = ssh_public_key_problem(key)
    assert (problem and problem.message) == message


def test_a_private_key_is_named_but_never_shown() -> None:
    problem = ssh_public_key_problem("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----")
    assert problem is not None and problem.message == "is a private key"
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in f"{problem.value} {problem.hint}"


@pytest.mark.parametrize("name", ["external_dns", "cert-manager", "a", "x" * 40])
def test_addon_names_that_become_annotation_prefixes_are_accepted(name):
    addon_names(None, None, {name: {}})


@pytest.mark.parametrize("name", ["External_DNS", "_dns", "dns-", "x" * 41, "a.b"])
def test_addon_names_that_cannot_prefix_an_annotation_are_refused_with_an_example(name):
    with pytest.raises(InvalidValue) as caught:
        addon_names(None, None, {name: {}})
    assert caught.value.value == name and "external_dns" in caught.value.hint
