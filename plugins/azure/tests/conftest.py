import os

import pytest
from azure_stand_in import AzureStandIn

from dokaseca_azure.prepare import forget


@pytest.fixture(scope="session")
def azure_stand_in():
    stand_in = AzureStandIn()
    yield stand_in
    stand_in.close()


@pytest.fixture
def azure(azure_stand_in: AzureStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path):
    """A wiped stand-in with fresh records; azure-identity signing in to it as a
    service principal from the environment, with its CA trusted and no real
    Azure CLI login or token cache in reach; prepare's sessions and look-ups
    forgotten, as in a new process."""
    azure_stand_in.reset()
    for name in [n for n in os.environ if n.startswith(("AZURE_", "MSI_", "IDENTITY_"))]:
        monkeypatch.delenv(name)
    for name, value in azure_stand_in.environment(tmp_path).items():
        monkeypatch.setenv(name, value)
    forget()
    yield azure_stand_in
    forget()
