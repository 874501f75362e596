import os

import pytest
from vsphere_stand_in import PASSWORD, USER, VCenterStandIn, example_inventory

from dokaseca.testing import OneClusterFleet

from dokaseca_vsphere.prepare import forget

VIP = "10.20.0.10"
TEMPLATE = "ubuntu-2404-kube-v1.33.1"


@pytest.fixture(scope="session")
def vcenter_stand_in():
    stand_in = VCenterStandIn(users={USER: PASSWORD})
    yield stand_in
    stand_in.close()


@pytest.fixture
def vcenter(vcenter_stand_in: VCenterStandIn, monkeypatch: pytest.MonkeyPatch):
    """The stand-in with the example inventory and a fresh call record;
    credentials in VSPHERE_USERNAME/VSPHERE_PASSWORD and no other TLS trust;
    prepare's sessions and reads forgotten, as in a new process."""
    vcenter_stand_in.reset(example_inventory())
    for name in [n for n in os.environ if n.startswith(("VSPHERE_", "GOVC_"))] + ["SSL_CERT_FILE", "SSL_CERT_DIR"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VSPHERE_USERNAME", USER)
    monkeypatch.setenv("VSPHERE_PASSWORD", PASSWORD)
    forget()
    yield vcenter_stand_in
    forget()


@pytest.fixture
def fleet(vcenter: VCenterStandIn) -> OneClusterFleet:
    """One cluster, web-1 in dev, on the stand-in: its CA trusted through vsphere.caFile."""
    config = {
        "server": vcenter.server,
        "caFile": vcenter.ca_file,
        "datacenter": "dc1",
        "datastore": "vsanDatastore",
        "network": "k8s-nodes",
        "template": TEMPLATE,
        "resourcePool": "cluster1/Resources/acme-dev",
        "controlPlaneEndpoint": VIP,
    }
    return OneClusterFleet("vsphere", config, name="web-1", environment="dev")
