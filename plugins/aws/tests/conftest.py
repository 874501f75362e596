import json
import os

import pytest
from aws_stand_in import AwsStandIn, machine_image

from dokaseca_aws.prepare import forget

# Machine images every region of the stand-in has, for the AMI look-up: CAPA's
# naming scheme, owned by moto's account.
IMAGES = [
    ("ami-00000000000000001", "capa-ami-ubuntu-24.04-v1.33.1-1700000000", "x86_64", "2024-01-01T00:00:00.000Z"),
    ("ami-00000000000000002", "capa-ami-ubuntu-24.04-v1.33.1-1710000000", "x86_64", "2024-03-01T00:00:00.000Z"),
    ("ami-00000000000000003", "capa-ami-ubuntu-24.04-v1.33.1-1720000000", "arm64", "2024-06-01T00:00:00.000Z"),
    ("ami-00000000000000004", "capa-ami-ubuntu-24.04-v1.32.5-1730000000", "x86_64", "2024-09-01T00:00:00.000Z"),
    ("ami-00000000000000005", "capa-ami-ubuntu-22.04-v1.33.1-1740000000", "x86_64", "2024-12-01T00:00:00.000Z"),
]


@pytest.fixture(scope="session")
def aws_stand_in(tmp_path_factory: pytest.TempPathFactory):
    amis = tmp_path_factory.mktemp("moto") / "amis.json"
    amis.write_text(json.dumps([machine_image(*image) for image in IMAGES]))
    stand_in = AwsStandIn(amis_file=amis)
    yield stand_in
    stand_in.close()


@pytest.fixture
def aws(aws_stand_in: AwsStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path):
    """A wiped stand-in with fresh records; boto3 pointed at it with dummy keys and
    no ~/.aws; prepare's sessions and look-ups forgotten, as in a new process."""
    aws_stand_in.reset()
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in aws_stand_in.environment(tmp_path).items():
        monkeypatch.setenv(name, value)
    forget()
    yield aws_stand_in
    forget()
