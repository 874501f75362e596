"""Which vCenter user ``prepare`` logs in as, and with what password.

Never from the fleet file itself: ``vsphere.credentialsFile`` names a YAML file
(``username:`` and ``password:``, as the Metal3 plugin's ``bmc.credentialsFile``),
else the environment: ``VSPHERE_USERNAME`` / ``VSPHERE_PASSWORD`` (the names
CAPV's clusterctl templates use), else ``GOVC_USERNAME`` / ``GOVC_PASSWORD``
(what govc users already have set). Errors name the variable or the file,
never what is in them.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from dokaseca.credentials import CredentialsFileProblem, username_password
from dokaseca.errors import ProviderError
from dokaseca.models import ClusterSpec

ENVIRONMENT = (("VSPHERE_USERNAME", "VSPHERE_PASSWORD"), ("GOVC_USERNAME", "GOVC_PASSWORD"))


@attrs.frozen
class Credentials:
    username: str
    password: str = attrs.field(repr=False)
    source: str  # where they came from, to name in an error: "VSPHERE_USERNAME/VSPHERE_PASSWORD"


def read(cluster: ClusterSpec) -> Credentials:
    config = cluster.provider_config
    if config.credentials_file:
        return _from_file(cluster, config.credentials_file)
    for user_variable, password_variable in ENVIRONMENT:
        username = os.environ.get(user_variable)
        if not username:
            continue
        if not os.environ.get(password_variable):
            raise ProviderError(f"cluster {cluster.name}: {user_variable} is set but {password_variable} is not; export both")
        return Credentials(username=username, password=os.environ[password_variable], source=f"{user_variable}/{password_variable}")
    raise ProviderError(
        f"cluster {cluster.name}: no vCenter credentials; export VSPHERE_USERNAME and VSPHERE_PASSWORD "
        "(or GOVC_USERNAME and GOVC_PASSWORD, as for govc), or set vsphere.credentialsFile to a YAML file with username and password"
    )


def _from_file(cluster: ClusterSpec, name: str) -> Credentials:
    path = Path(cluster.source).parent / Path(name).expanduser()
    where = f"cluster {cluster.name}: vsphere.credentialsFile {str(path)!r}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ProviderError(f"{where} cannot be read: {reason}; the path is relative to the fleet file") from None
    try:
        username, password = username_password(text)
    except CredentialsFileProblem as problem:
        raise ProviderError(f"{where} {problem}") from None
    return Credentials(username=username, password=password, source=f"vsphere.credentialsFile {str(path)!r}")
