import pytest

from dokaseca.credentials import CredentialsFileProblem, username_password


def test_a_credentials_file_gives_its_username_and_password():
    assert username_password("username: admin\npassword: 's3cr3t: yes'\n") == ("admin", "s3cr3t: yes")


@pytest.mark.parametrize(
    "text, what",
    [
        ("username: admin\npassword: [hunter2\n", "is not valid YAML (line 3)"),
        ("username: admin\n", "has no username and password"),
        ("username: admin\npassword: 1234\n", "has no username and password"),  # a number, not a string
        ("- hunter2\n", "has no username and password"),
    ],
)
def test_a_bad_credentials_file_is_named_without_its_content(text, what):
    with pytest.raises(CredentialsFileProblem) as caught:
        username_password(text)
    assert caught.value.what == what
    assert "hunter2" not in str(caught.value) and "1234" not in str(caught.value)
