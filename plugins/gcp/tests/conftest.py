import os

import pytest
from gcp_stand_in import GcpStandIn

from dokaseca_gcp.prepare import forget


@pytest.fixture(scope="session")
def gcp_stand_in():
    stand_in = GcpStandIn(tls=True)
    yield stand_in
    stand_in.close()


@pytest.fixture
def gcp(gcp_stand_in: GcpStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path):
    """A wiped stand-in with fresh records; Application Default Credentials pointed at
    it (a user's credential file whose token service is the stand-in), no gcloud
    configuration; prepare's credentials, clients and look-ups forgotten, as in a new process."""
    gcp_stand_in.reset()
    for name in [n for n in os.environ if n.startswith(("GOOGLE_", "GCE_", "CLOUDSDK_"))]:
        monkeypatch.delenv(name)
    for name, value in gcp_stand_in.environment(tmp_path).items():
        monkeypatch.setenv(name, value)
    forget()
    yield gcp_stand_in
    forget()
