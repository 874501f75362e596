import fake_provider
import pytest

from dokaseca.plugins import load_plugins


@pytest.fixture
def host():
    """Only the core's default plugins and the in-test provider: no entry points."""
    return load_plugins(autoload=False, extra=[("fake", fake_provider)])
