"""Azure on loopback for tests: an HTTPS responder speaking the Azure Resource
Manager REST API that ``prepare`` uses, and the Microsoft Entra token endpoint.

The real SDK talks to it: azure-identity's EnvironmentCredential (through
msal) fetches the tenant's OpenID configuration and a client-credentials
token from ``AZURE_AUTHORITY_HOST``; the ARM clients send that token with
every call to the fleet's ``azure.resourceManagerEndpoint``. Answers follow
the documented shapes: resource groups (PUT, GET, HEAD), virtual networks
and subnets (PUT as long-running operations: 201 with an
``Azure-AsyncOperation`` URL that reports ``InProgress`` a few times, then
``Succeeded``), the subscription and its locations, resource SKUs, the
Kubernetes versions AKS offers, user-assigned identities and their
federated credentials.

It records every ``(method, path)``, answers 401 to an ARM call without the
token it issued, and can answer the next calls with a fault (429 with
``retry-after-ms``, or a 5xx). Its :class:`loopback.Pacing` adds a latency to
every request and can hold the k-th mutating one, so a test can kill the
client half-way; a held call that was forwarded is done (a long-running
operation it started runs to its end, as Azure's would with nobody polling)
and only its answer is lost::

    stand_in = AzureStandIn()                    # or the `azure` fixture of the Azure plugin's tests
    env = stand_in.environment(tmp_path)         # AZURE_* for a service principal, the CA bundle
    stand_in.fail_next(2, status=429, method="PUT")
    ...
    stand_in.mutating()                          # [('PUT', '/subscriptions/.../resourcegroups/web-1'), ...]
    hold = stand_in.pacing.hold_at(3, forward=False)  # hold.what: 'PUT virtualNetworks/acme-dev'
    stand_in.close()

State (resources, records, faults, pacing) lives in the stand-in and is wiped
by :meth:`reset`.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import socket
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Callable, Optional

from loopback import Hold, LoopbackServer, Pacing

TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SUBSCRIPTION_ID = "0b8f1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"
CLIENT_ID = "5d1c9f3e-7a2b-4c8d-9e0f-1a2b3c4d5e6f"
CLIENT_SECRET = "stand-in-client-secret-Zx8~Qm2"

LOCATIONS = {"westeurope": "West Europe", "northeurope": "North Europe", "eastus": "East US", "eastus2": "East US 2"}
AKS_VERSIONS = {"1.32": ("1.32.5", "1.32.6"), "1.33": ("1.33.1", "1.33.2")}
VM_SIZES = ("Standard_B2s", "Standard_D2s_v3", "Standard_D4s_v3", "Standard_D2s_v5", "Standard_D4s_v5", "Standard_E4s_v5")


def is_mutating(method: str, path: str) -> bool:
    """Every ARM call but a GET or HEAD (prepare makes no read-only POST); token requests are not ARM calls."""
    return method not in ("GET", "HEAD") and not _is_token_path(path)


def _is_token_path(path: str) -> bool:
    return not path.lower().startswith("/subscriptions")


def label(method: str, path: str) -> str:
    """``PUT virtualNetworks/acme-dev``: the method and the last two segments of the path."""
    return f"{method} {'/'.join(path.rstrip('/').split('/')[-2:])}"


class AzureStandIn:
    def __init__(self, *, lro_polls: int = 2, poll_after_ms: int = 20) -> None:
        """``lro_polls``: how many times an operation reports InProgress before it
        succeeds; ``poll_after_ms``: the ``retry-after-ms`` it asks pollers to wait."""
        self.lro_polls = lro_polls
        self.poll_after_ms = poll_after_ms
        self.lock = threading.RLock()
        self.pacing = Pacing()
        self.reset()
        self._server = LoopbackServer(_Handler, tls=True, state=self)

    # -- what tests use ------------------------------------------------------

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def ca_file(self) -> str:
        assert self._server.ca_file
        return self._server.ca_file

    def environment(self, folder: Path) -> dict[str, str]:
        """A service principal for azure-identity's EnvironmentCredential, the
        stand-in as the authority, its CA trusted, and no real Azure CLI or
        token cache in reach (HOME and AZURE_CONFIG_DIR in ``folder``)."""
        return {
            "AZURE_TENANT_ID": TENANT_ID,
            "AZURE_CLIENT_ID": CLIENT_ID,
            "AZURE_CLIENT_SECRET": CLIENT_SECRET,
            "AZURE_AUTHORITY_HOST": self.url,
            "REQUESTS_CA_BUNDLE": self.ca_file,
            "SSL_CERT_FILE": self.ca_file,
            "HOME": str(folder),
            "AZURE_CONFIG_DIR": str(folder / ".azure"),
        }

    def reset(self) -> None:
        self.pacing.reset()
        with self.lock:
            self.calls: list[tuple[str, str]] = []
            self.faults: list[dict[str, Any]] = []
            self.tokens_issued: list[str] = []
            self.groups: dict[str, dict[str, Any]] = {}
            self.vnets: dict[tuple[str, str], dict[str, Any]] = {}
            self.identities: dict[tuple[str, str], dict[str, Any]] = {}
            self.federated: dict[tuple[str, str, str], dict[str, Any]] = {}
            self.operations: dict[str, dict[str, Any]] = {}
            self.subnet_settles: dict[tuple[str, str, str], int] = {}  # subnet -> GETs until Succeeded
            self.locations = dict(LOCATIONS)
            self.aks_versions = {minor: tuple(patches) for minor, patches in AKS_VERSIONS.items()}
            self.aks_lts_only: set[str] = set()  # minors offered only under AKS long-term support
            self.vm_sizes = list(VM_SIZES)
            self.restricted_sizes: dict[str, str] = {}  # size -> reasonCode
            self.zone_restricted_sizes: dict[str, tuple[str, ...]] = {}  # size -> zones it is not offered in
            self.size_zones: dict[str, tuple[str, ...]] = {}  # size -> the location's zones it is offered in (default 1-3)
            self.subscriptions = {SUBSCRIPTION_ID: TENANT_ID}
            self.failing_operations: list[tuple[str, str]] = []  # (code, message) the next operations end with

    def clear_calls(self) -> None:
        with self.lock:
            self.calls = []

    def arm_calls(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(m, p) for m, p in self.calls if not _is_token_path(p)]

    def mutating(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.arm_calls() if is_mutating(m, p)]

    def reads(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.arm_calls() if not is_mutating(m, p)]

    def fail_next(
        self,
        count: int,
        *,
        status: int = 429,
        method: Optional[str] = None,
        path_contains: str = "",
        retry_after_ms: Optional[int] = 10,
        code: str = "",
        message: str = "injected by the stand-in",
    ) -> None:
        """Answer the next ``count`` ARM calls (of ``method``, with ``path_contains``
        in the path, when given) with ``status`` instead."""
        code = code or {429: "TooManyRequests", 503: "ServiceUnavailable", 500: "InternalServerError"}.get(status, "Failed")
        with self.lock:
            self.faults.extend(
                [
                    {
                        "status": status,
                        "method": method,
                        "path": path_contains.lower(),
                        "retry_after_ms": retry_after_ms,
                        "code": code,
                        "message": message,
                    }
                ]
                * count
            )

    def add_vnet(
        self, group: str, name: str, location: str, prefixes: list[str], subnets: dict[str, str], tags: Optional[dict] = None
    ) -> None:
        """A virtual network made outside prepare (a network the fleet brings)."""
        with self.lock:
            self._ensure_group_exists_for_test(group, location)
            self.vnets[group.lower(), name.lower()] = self._vnet_resource(
                group, name, {"location": location, "tags": tags or {}, "properties": {"addressSpace": {"addressPrefixes": prefixes}}}
            )
            for subnet, prefix in subnets.items():
                self._put_subnet(group, name, subnet, {"properties": {"addressPrefix": prefix}}, "Succeeded")

    def set_vnet_state(self, group: str, name: str, state: str, *, until_gets: int = 0) -> None:
        """Give a vnet the provisioning state ``state``; with ``until_gets`` it is
        ``Succeeded`` again after that many GETs (an operation finishing)."""
        with self.lock:
            network = self.vnets[group.lower(), name.lower()]
            network["properties"]["provisioningState"] = state
            network["settles_after_gets"] = until_gets or None

    def set_subnet_state(self, group: str, vnet: str, name: str, state: str, *, until_gets: int = 0) -> None:
        """As :meth:`set_vnet_state`, for a subnet; the GETs counted are the subnet's own."""
        with self.lock:
            self.vnets[group.lower(), vnet.lower()]["subnets"][name.lower()]["properties"]["provisioningState"] = state
            self.subnet_settles[group.lower(), vnet.lower(), name.lower()] = until_gets

    def add_group(self, name: str, location: str, tags: Optional[dict] = None) -> None:
        with self.lock:
            self.groups[name.lower()] = self._group_resource(name, location, tags or {})

    def vnet(self, group: str, name: str) -> Optional[dict[str, Any]]:
        with self.lock:
            found = self.vnets.get((group.lower(), name.lower()))
            return copy.deepcopy(found) if found else None

    def close(self) -> None:
        self._server.close()

    # -- resources -------------------------------------------------------------

    def _ensure_group_exists_for_test(self, group: str, location: str) -> None:
        if group.lower() not in self.groups:
            self.add_group(group, location)

    def _sub(self) -> str:
        return f"/subscriptions/{SUBSCRIPTION_ID}"

    def _group_resource(self, name: str, location: str, tags: dict) -> dict[str, Any]:
        return {
            "id": f"{self._sub()}/resourceGroups/{name}",
            "name": name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": location,
            "tags": tags,
            "properties": {"provisioningState": "Succeeded"},
        }

    def _vnet_resource(self, group: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        properties = dict(body.get("properties") or {})
        properties.pop("subnets", None)
        properties["provisioningState"] = "Succeeded"
        return {
            "id": f"{self._sub()}/resourceGroups/{group}/providers/Microsoft.Network/virtualNetworks/{name}",
            "name": name,
            "type": "Microsoft.Network/virtualNetworks",
            "location": body.get("location"),
            "tags": body.get("tags") or {},
            "etag": f'W/"{uuid.uuid4()}"',
            "properties": properties,
            "subnets": {},
        }

    def _put_subnet(self, group: str, vnet: str, name: str, body: dict[str, Any], state: str) -> dict[str, Any]:
        network = self.vnets[group.lower(), vnet.lower()]
        properties = dict(body.get("properties") or {})
        properties["provisioningState"] = state
        subnet = {
            "id": f"{network['id']}/subnets/{name}",
            "name": name,
            "type": "Microsoft.Network/virtualNetworks/subnets",
            "etag": f'W/"{uuid.uuid4()}"',
            "properties": properties,
        }
        network["subnets"][name.lower()] = subnet
        return subnet

    def _vnet_view(self, network: dict[str, Any]) -> dict[str, Any]:
        view = {k: copy.deepcopy(v) for k, v in network.items() if k not in ("subnets", "settles_after_gets")}
        view["properties"]["subnets"] = [copy.deepcopy(s) for s in network["subnets"].values()]
        return view

    def _operation(self, location: str, finish: Callable[[], None]) -> str:
        operation = str(uuid.uuid4())
        self.operations[operation] = {"polls": self.lro_polls, "finish": finish}
        return f"{self.url}{self._sub()}/providers/Microsoft.Network/locations/{location}/operations/{operation}?api-version=2024-05-01"

    def _run_unwatched(self, operation_url: str) -> None:
        """An operation whose client is gone: Azure carries it through anyway."""
        operation = urllib.parse.urlsplit(operation_url).path.rsplit("/", 1)[-1]
        with self.lock:
            found = self.operations.pop(operation, None)
            if found is not None:
                found["finish"]()


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


_SUB = r"/subscriptions/(?P<sub>[^/]+)"
_GROUP = _SUB + r"/resourcegroups/(?P<group>[^/]+)"
_VNET = _GROUP + r"/providers/microsoft\.network/virtualnetworks/(?P<vnet>[^/]+)"
_IDENTITY = _GROUP + r"/providers/microsoft\.managedidentity/userassignedidentities/(?P<identity>[^/]+)"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any
    # Set while a held request is served: the answer it would have had, never sent.
    _unsent: Optional[dict[str, str]] = None

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm
        # and the client's delayed ACK add 40 ms to some answers.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    @property
    def stand_in(self) -> AzureStandIn:
        return self.server.state

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # -- plumbing ---------------------------------------------------------------

    def _dispatch(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        self.query = dict(urllib.parse.parse_qsl(url.query))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        stand_in = self.stand_in
        with stand_in.lock:
            stand_in.calls.append((self.command, path))
        hold = stand_in.pacing.before(mutating=is_mutating(self.command, path), what=label(self.command, path))
        if hold is not None:
            self._serve_held(hold, path, raw)
            return
        self._serve(path, raw)

    def _serve_held(self, hold: Hold, path: str, raw: bytes) -> None:
        """Never answer; with ``forward`` do the work first. Then drop the connection."""
        if hold.forward:
            self._unsent = {}
            self._serve(path, raw)
            operation = self._unsent.get("Azure-AsyncOperation")
            if operation:
                self.stand_in._run_unwatched(operation)
        hold.wait_here()
        self.close_connection = True

    def _serve(self, path: str, raw: bytes) -> None:
        stand_in = self.stand_in
        if _is_token_path(path):
            self._token(path, raw)
            return
        fault = self._take_fault(path)
        if fault is not None:
            headers = {"retry-after-ms": str(fault["retry_after_ms"])} if fault["retry_after_ms"] is not None else {}
            self._send(fault["status"], _error(fault["code"], fault["message"]), headers)
            return
        if self.headers.get("Authorization", "") not in {f"Bearer {t}" for t in stand_in.tokens_issued}:
            self._send(
                401,
                _error("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing or invalid."),
                {"WWW-Authenticate": 'Bearer authorization_uri="https://login.windows.net/", error="invalid_token"'},
            )
            return
        body = json.loads(raw) if raw else {}
        lowered = path.lower().rstrip("/")
        for method, pattern, answer in _ROUTES:
            if method == self.command:
                match = re.fullmatch(pattern, lowered)
                if match:
                    names = {k: _original(path, lowered, match, k) for k in match.groupdict()}
                    if names.get("sub", SUBSCRIPTION_ID).lower() not in stand_in.subscriptions:
                        self._send(404, _error("SubscriptionNotFound", f"The subscription '{names['sub']}' could not be found."))
                        return
                    with stand_in.lock:
                        answer(self, body, **names)
                    return
        self._send(400, _error("NoRegisteredProviderFound", f"the stand-in does not know {self.command} {path}"))

    def _take_fault(self, path: str) -> Optional[dict[str, Any]]:
        with self.stand_in.lock:
            for index, fault in enumerate(self.stand_in.faults):
                if fault["method"] in (None, self.command) and fault["path"] in path.lower():
                    return self.stand_in.faults.pop(index)
        return None

    def _send(self, status: int, body: Optional[dict[str, Any]] = None, headers: Optional[dict[str, str]] = None) -> None:
        if self._unsent is not None:  # held: the work is done, the answer is lost
            self._unsent.update(headers or {})
            return
        data = b"" if body is None or self.command == "HEAD" else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("x-ms-request-id", str(uuid.uuid4()))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data:
                self.wfile.write(data)
        except OSError:  # the client is gone (killed on purpose)
            self.close_connection = True

    # -- Microsoft Entra ID -------------------------------------------------------

    def _token(self, path: str, raw: bytes) -> None:
        stand_in = self.stand_in
        match = re.fullmatch(r"/(?P<tenant>[^/]+)/(v2\.0/\.well-known/openid-configuration|oauth2/v2\.0/token)", path)
        if match is None:
            self._send(404, {"error": "not_found", "error_description": f"the stand-in has no {path}"})
            return
        tenant = match["tenant"]
        base = f"{stand_in.url}/{tenant}"
        if path.endswith("openid-configuration"):
            self._send(
                200,
                {
                    "issuer": f"{stand_in.url}/{tenant}/v2.0",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                    "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
                    "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                    "tenant_region_scope": "EU",
                },
            )
            return
        form = dict(urllib.parse.parse_qsl(raw.decode()))
        if tenant != TENANT_ID or form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            self._send(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.",
                    "error_codes": [7000215],
                },
            )
            return
        if f"{stand_in.url}/.default" not in form.get("scope", "").split():
            # Entra issues app tokens only for a resource it knows, asked for as "<resource>/.default".
            self._send(
                400,
                {
                    "error": "invalid_scope",
                    "error_description": f"AADSTS1002012: The provided value for scope {form.get('scope')} is not valid. "
                    "Client credential flows must have a scope value with /.default suffixed to the resource identifier.",
                    "error_codes": [1002012],
                },
            )
            return
        token = f"stand-in-token-{secrets.token_hex(16)}"
        with stand_in.lock:
            stand_in.tokens_issued.append(token)
        self._send(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token})

    # -- subscription, locations, SKUs, AKS versions ------------------------------

    def subscription(self, body: dict, sub: str) -> None:
        self._send(
            200,
            {
                "id": f"/subscriptions/{sub}",
                "subscriptionId": sub,
                "tenantId": self.stand_in.subscriptions[sub.lower()],
                "displayName": "Stand-in subscription",
                "state": "Enabled",
                "authorizationSource": "RoleBased",
            },
        )

    def locations(self, body: dict, sub: str) -> None:
        self._send(
            200,
            {
                "value": [
                    {
                        "id": f"/subscriptions/{sub}/locations/{name}",
                        "name": name,
                        "displayName": display,
                        "regionalDisplayName": display,
                        "type": "Region",
                        "metadata": {"regionType": "Physical", "regionCategory": "Recommended"},
                    }
                    for name, display in self.stand_in.locations.items()
                ]
            },
        )

    def skus(self, body: dict, sub: str) -> None:
        wanted = re.fullmatch(r"location eq '([^']+)'", self.query.get("$filter", ""))
        location = wanted.group(1) if wanted else None
        stand_in = self.stand_in
        places = [location] if location else list(stand_in.locations)
        value = []
        for place in places:
            if place not in stand_in.locations:
                continue
            for size in stand_in.vm_sizes:
                reason = stand_in.restricted_sizes.get(size)
                restrictions = (
                    [{"type": "Location", "values": [place], "restrictionInfo": {"locations": [place]}, "reasonCode": reason}]
                    if reason
                    else []
                )
                if size in stand_in.zone_restricted_sizes:
                    zones = stand_in.zone_restricted_sizes[size]
                    restrictions.append(
                        {
                            "type": "Zone",
                            "values": [place],
                            "restrictionInfo": {"locations": [place], "zones": list(zones)},
                            "reasonCode": "NotAvailableForSubscription",
                        }
                    )
                value.append(
                    {
                        "resourceType": "virtualMachines",
                        "name": size,
                        "tier": size.split("_")[0],
                        "size": size.split("_", 1)[1],
                        "family": f"standard{size.split('_')[1][0]}Family",
                        "locations": [place],
                        "locationInfo": [
                            {"location": place, "zones": list(stand_in.size_zones.get(size, ("1", "2", "3"))), "zoneDetails": []}
                        ],
                        "capabilities": [{"name": "vCPUs", "value": "2"}],
                        "restrictions": restrictions,
                    }
                )
            value.append({"resourceType": "disks", "name": "Premium_LRS", "tier": "Premium", "locations": [place], "restrictions": []})
        self._send(200, {"value": value})

    def kubernetes_versions(self, body: dict, sub: str, location: str) -> None:
        if location not in self.stand_in.locations:
            self._send(404, _error("LocationNotFound", f"location {location} is not known"))
            return
        values = [
            {
                "version": minor,
                "isPreview": False,
                "capabilities": {
                    "supportPlan": ["AKSLongTermSupport"] if minor in self.stand_in.aks_lts_only else ["KubernetesOfficial", "AKSLongTermSupport"]
                },
                "patchVersions": {patch: {"upgrades": []} for patch in patches},
            }
            for minor, patches in sorted(self.stand_in.aks_versions.items())
        ]
        self._send(200, {"values": values})

    # -- resource groups --------------------------------------------------------------

    def group_head(self, body: dict, sub: str, group: str) -> None:
        self._send(204 if group.lower() in self.stand_in.groups else 404)

    def group_get(self, body: dict, sub: str, group: str) -> None:
        found = self.stand_in.groups.get(group.lower())
        if found is None:
            self._send(404, _error("ResourceGroupNotFound", f"Resource group '{group}' could not be found."))
            return
        self._send(200, found)

    def group_put(self, body: dict, sub: str, group: str) -> None:
        stand_in = self.stand_in
        found = stand_in.groups.get(group.lower())
        location = body.get("location", "")
        if found is not None and found["location"] != location:
            self._send(
                409,
                _error(
                    "InvalidResourceGroupLocation",
                    f"Invalid resource group location '{location}'. The Resource group already exists in location '{found['location']}'.",
                ),
            )
            return
        stand_in.groups[group.lower()] = stand_in._group_resource(found["name"] if found else group, location, body.get("tags") or {})
        self._send(200 if found else 201, stand_in.groups[group.lower()])

    # -- virtual networks and subnets (long-running operations) -------------------------

    def _group_or_404(self, group: str) -> bool:
        if group.lower() in self.stand_in.groups:
            return True
        self._send(404, _error("ResourceGroupNotFound", f"Resource group '{group}' could not be found."))
        return False

    def vnet_get(self, body: dict, sub: str, group: str, vnet: str) -> None:
        found = self.stand_in.vnets.get((group.lower(), vnet.lower()))
        if found is None:
            self._send(
                404,
                _error(
                    "ResourceNotFound",
                    f"The Resource 'Microsoft.Network/virtualNetworks/{vnet}' under resource group '{group}' was not found.",
                ),
            )
            return
        with self.stand_in.lock:
            if found.get("settles_after_gets"):
                found["settles_after_gets"] -= 1
                if not found["settles_after_gets"]:
                    found["properties"]["provisioningState"] = "Succeeded"
        self._send(200, self.stand_in._vnet_view(found))

    def vnet_put(self, body: dict, sub: str, group: str, vnet: str) -> None:
        if not self._group_or_404(group):
            return
        stand_in = self.stand_in
        key = (group.lower(), vnet.lower())
        existed = key in stand_in.vnets
        network = stand_in._vnet_resource(group, vnet, body)
        network["properties"]["provisioningState"] = "Updating"
        listed = (body.get("properties") or {}).get("subnets")
        if existed and listed is None:  # since API 2023-11-01 a PUT without subnets keeps them; one with subnets sets them
            network["subnets"] = stand_in.vnets[key]["subnets"]
        stand_in.vnets[key] = network
        for subnet in listed or []:
            stand_in._put_subnet(group, vnet, subnet["name"], subnet, "Updating")

        def finish() -> None:
            network["properties"]["provisioningState"] = "Succeeded"
            for subnet in network["subnets"].values():
                subnet["properties"]["provisioningState"] = "Succeeded"

        operation = stand_in._operation(body.get("location", ""), finish)
        self._send(200 if existed else 201, stand_in._vnet_view(network), self._async_headers(operation))

    def subnet_get(self, body: dict, sub: str, group: str, vnet: str, subnet: str) -> None:
        network = self.stand_in.vnets.get((group.lower(), vnet.lower()))
        found = network and network["subnets"].get(subnet.lower())
        if not found:
            self._send(
                404,
                _error(
                    "NotFound",
                    f"Resource /subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Network/virtualNetworks/{vnet}/subnets/{subnet} not found.",
                ),
            )
            return
        with self.stand_in.lock:
            key = (group.lower(), vnet.lower(), subnet.lower())
            if self.stand_in.subnet_settles.get(key):
                self.stand_in.subnet_settles[key] -= 1
                if not self.stand_in.subnet_settles[key]:
                    found["properties"]["provisioningState"] = "Succeeded"
        self._send(200, found)

    def subnet_put(self, body: dict, sub: str, group: str, vnet: str, subnet: str) -> None:
        stand_in = self.stand_in
        network = stand_in.vnets.get((group.lower(), vnet.lower()))
        if network is None:
            self.vnet_get(body, sub, group, vnet)
            return
        existed = subnet.lower() in network["subnets"]
        made = stand_in._put_subnet(group, vnet, subnet, body, "Updating")

        def finish() -> None:
            made["properties"]["provisioningState"] = "Succeeded"

        operation = stand_in._operation(network["location"], finish)
        self._send(200 if existed else 201, made, self._async_headers(operation))

    def _async_headers(self, operation_url: str) -> dict[str, str]:
        return {"Azure-AsyncOperation": operation_url, "retry-after-ms": str(self.stand_in.poll_after_ms)}

    def operation(self, body: dict, sub: str, location: str, operation: str) -> None:
        stand_in = self.stand_in
        found = stand_in.operations.get(operation)
        if found is None:
            self._send(404, _error("NotFound", f"operation {operation} not found"))
            return
        if found["polls"] > 0:
            found["polls"] -= 1
            self._send(200, {"status": "InProgress"}, {"retry-after-ms": str(stand_in.poll_after_ms)})
            return
        if stand_in.failing_operations:
            code, message = stand_in.failing_operations.pop(0)
            self._send(200, {"status": "Failed", "error": {"code": code, "message": message}})
            return
        found["finish"]()
        self._send(200, {"status": "Succeeded"})

    # -- user-assigned identities ---------------------------------------------------

    def identity_get(self, body: dict, sub: str, group: str, identity: str) -> None:
        found = self.stand_in.identities.get((group.lower(), identity.lower()))
        if found is None:
            self._send(
                404,
                _error(
                    "ResourceNotFound",
                    f"The Resource 'Microsoft.ManagedIdentity/userAssignedIdentities/{identity}' under resource group '{group}' was not found.",
                ),
            )
            return
        self._send(200, found)

    def identity_put(self, body: dict, sub: str, group: str, identity: str) -> None:
        if not self._group_or_404(group):
            return
        stand_in = self.stand_in
        key = (group.lower(), identity.lower())
        found = stand_in.identities.get(key)
        properties = (
            found["properties"] if found else {"tenantId": TENANT_ID, "principalId": str(uuid.uuid4()), "clientId": str(uuid.uuid4())}
        )
        stand_in.identities[key] = {
            "id": f"/subscriptions/{sub}/resourcegroups/{group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{identity}",
            "name": identity,
            "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
            "location": body.get("location"),
            "tags": body.get("tags") or {},
            "properties": properties,
        }
        self._send(200 if found else 201, stand_in.identities[key])

    def federated_get(self, body: dict, sub: str, group: str, identity: str, credential: str) -> None:
        found = self.stand_in.federated.get((group.lower(), identity.lower(), credential.lower()))
        if found is None:
            self._send(404, _error("NotFound", f"Federated identity credential '{credential}' not found."))
            return
        self._send(200, found)

    def federated_put(self, body: dict, sub: str, group: str, identity: str, credential: str) -> None:
        stand_in = self.stand_in
        owner = stand_in.identities.get((group.lower(), identity.lower()))
        if owner is None:
            self.identity_get(body, sub, group, identity)
            return
        key = (group.lower(), identity.lower(), credential.lower())
        existed = key in stand_in.federated
        stand_in.federated[key] = {
            "id": f"{owner['id']}/federatedIdentityCredentials/{credential}",
            "name": credential,
            "type": "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
            "properties": body.get("properties") or {},
        }
        self._send(200 if existed else 201, stand_in.federated[key])


def _original(path: str, lowered: str, match: re.Match, group: str) -> str:
    """A matched name as the client spelt it (the match ran on the lower-cased path)."""
    start, end = match.span(group)
    return path.rstrip("/")[start:end]


_ROUTES: list[tuple[str, str, Callable[..., None]]] = [
    ("GET", _SUB, _Handler.subscription),
    ("GET", _SUB + "/locations", _Handler.locations),
    ("GET", _SUB + r"/providers/microsoft\.compute/skus", _Handler.skus),
    (
        "GET",
        _SUB + r"/providers/microsoft\.containerservice/locations/(?P<location>[^/]+)/kubernetesversions",
        _Handler.kubernetes_versions,
    ),
    ("GET", _SUB + r"/providers/microsoft\.network/locations/(?P<location>[^/]+)/operations/(?P<operation>[^/]+)", _Handler.operation),
    ("HEAD", _GROUP, _Handler.group_head),
    ("GET", _GROUP, _Handler.group_get),
    ("PUT", _GROUP, _Handler.group_put),
    ("GET", _VNET, _Handler.vnet_get),
    ("PUT", _VNET, _Handler.vnet_put),
    ("GET", _VNET + "/subnets/(?P<subnet>[^/]+)", _Handler.subnet_get),
    ("PUT", _VNET + "/subnets/(?P<subnet>[^/]+)", _Handler.subnet_put),
    ("GET", _IDENTITY, _Handler.identity_get),
    ("PUT", _IDENTITY, _Handler.identity_put),
    ("GET", _IDENTITY + "/federatedidentitycredentials/(?P<credential>[^/]+)", _Handler.federated_get),
    ("PUT", _IDENTITY + "/federatedidentitycredentials/(?P<credential>[^/]+)", _Handler.federated_put),
]
