"""Google Cloud on loopback for tests: a REST responder speaking the documented
JSON of the calls ``prepare`` makes, for the real Google client libraries.

- OAuth: the service-account key :meth:`GcpStandIn.environment` writes for
  GOOGLE_APPLICATION_CREDENTIALS has a key pair made here and its ``token_uri``
  here. ``POST /token`` checks the signed JWT grant and hands out an access
  token; every API call must carry that token, or a JWT the key signed itself
  (what the generated clients send: Google's "self-signed JWT"), else 401.
  (A user's ``authorized_user`` file cannot be used: google-auth always sends
  its refresh to Google's own token service, whatever ``token_uri`` says.)
- Compute Engine v1: networks, subnetworks, routers and firewalls (get, list,
  insert, patch, setPrivateIpGoogleAccess), each write answered with an
  Operation that is RUNNING until polled ``polls_before_done`` times; regions
  (get, list); 404 for what does not exist, 409 ``alreadyExists``.
- GKE v1: ``getServerConfig``.
- IAM v1 service accounts (get, create, get/setIamPolicy) and Resource
  Manager v3 project policies (get/setIamPolicy), with etags: a write with a
  stale etag gets 409 ABORTED. A read must ask for the policy's version or a
  later one (IAM's getIamPolicy has no body: the version is the query
  parameter ``options.requestedPolicyVersion``; Resource Manager's is in the
  body), else 400, as Google answers.
- The metadata-server probe (a second, plain-HTTP server) gets a 404 without
  ``Metadata-Flavor: Google``, so google-auth knows at once it is not on a
  Google Cloud VM.

It records ``(method, path)`` of every API call and can answer the next N
with a fault (429, 503...). Its :class:`loopback.Pacing` adds a latency to
every request (token ones too) and holds the k-th mutating call, so a test can
kill the client half-way (``forward=True``: Google did the work, only the
answer is lost)::

    stand_in = GcpStandIn()
    env = stand_in.environment(tmp_path)     # GOOGLE_APPLICATION_CREDENTIALS and friends
    stand_in.endpoints()                     # for gcp.endpoints in the fleet file
    stand_in.mutating()                      # [('POST', '/compute/v1/projects/p/global/networks'), ...]
    hold = stand_in.pacing.hold_at(2)        # hold.what: 'POST regions/europe-west1/subnetworks/nodes'
"""

from __future__ import annotations

import base64
import copy
import http
import http.server
import itertools
import json
import re
import secrets
import socket
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Optional

from loopback import Hold, LoopbackServer, Pacing

PROJECT = "acme-web-dev"
PROJECT_NUMBER = "123456789012"
CLIENT_EMAIL = f"prepare@{PROJECT}.iam.gserviceaccount.com"
KEY_ID = "0123456789abcdef0123456789abcdef01234567"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REGIONS = {
    "europe-west1": ["europe-west1-b", "europe-west1-c", "europe-west1-d"],
    "us-east1": ["us-east1-b", "us-east1-c", "us-east1-d"],
}
SERVER_CONFIG = {
    "defaultClusterVersion": "1.33.5-gke.1308000",
    "validMasterVersions": ["1.34.1-gke.1829001", "1.33.5-gke.1308000", "1.33.5-gke.1201000", "1.33.4-gke.1172000", "1.32.9-gke.1010000"],
    "validNodeVersions": ["1.34.1-gke.1829001", "1.33.5-gke.1308000", "1.33.4-gke.1172000", "1.32.9-gke.1010000"],
    "channels": [
        {"channel": "RAPID", "defaultVersion": "1.34.1-gke.1829001", "validVersions": ["1.34.1-gke.1829001", "1.33.5-gke.1308000"]},
        {"channel": "REGULAR", "defaultVersion": "1.33.5-gke.1308000", "validVersions": ["1.33.5-gke.1308000", "1.33.4-gke.1172000"]},
        {"channel": "STABLE", "defaultVersion": "1.32.9-gke.1010000", "validVersions": ["1.32.9-gke.1010000"]},
    ],
}
READ_SUFFIXES = ("/wait", ":getIamPolicy")
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}

_COMPUTE = re.compile(
    r"^/compute/v1/projects/(?P<project>[^/]+)/(?P<scope>global|regions/(?P<region>[^/]+))/"
    r"(?P<collection>networks|subnetworks|routers|firewalls|operations)(?:/(?P<name>[^/]+))?(?:/(?P<verb>wait|setPrivateIpGoogleAccess))?$"
)
_REGIONS = re.compile(r"^/compute/v1/projects/(?P<project>[^/]+)/regions(?:/(?P<name>[^/]+))?$")
_SERVER_CONFIG = re.compile(r"^/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/serverConfig$")
_ACCOUNTS = re.compile(r"^/v1/projects/(?P<project>[^/]+)/serviceAccounts(?:/(?P<email>[^/:]+))?(?::(?P<verb>getIamPolicy|setIamPolicy))?$")
_PROJECT_POLICY = re.compile(r"^/v3/projects/(?P<project>[^/:]+):(?P<verb>getIamPolicy|setIamPolicy)$")


def is_mutating(method: str, path: str) -> bool:
    return method != "GET" and not path.endswith(READ_SUFFIXES)


class Answer(Exception):
    """Raised by a route to answer with an error."""

    def __init__(self, status: int, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason


class State:
    def __init__(self, pacing: Pacing) -> None:
        self.lock = threading.Lock()
        self.pacing = pacing
        self.token = f"ya29.stand-in-{secrets.token_hex(16)}"
        self.calls: list[tuple[str, str]] = []
        self.token_requests = 0
        self.refuse_refresh = False
        self.faults: list[tuple[Optional[str], Optional[str], int]] = []
        self.polls_before_done = 1
        self.failing_operations: list[tuple[str, int, str]] = []
        self.resources: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        self.policies: dict[str, dict[str, Any]] = {}
        self.server_config = copy.deepcopy(SERVER_CONFIG)
        self.counter = itertools.count(1000)


class GcpStandIn:
    def __init__(self, *, tls: bool = False) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_key = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        _Handler.public_key = key.public_key()
        self.pacing = Pacing()
        self._server = LoopbackServer(_Handler, tls=tls, state=State(self.pacing))
        # google-auth probes the metadata server over plain HTTP.
        self._metadata = LoopbackServer(_NotAVirtualMachine)

    # -- what tests use ------------------------------------------------------

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def state(self) -> State:
        return self._server.state

    def endpoints(self) -> dict[str, str]:
        """``gcp.endpoints`` pointing every API prepare calls here."""
        return {"compute": self.url, "container": self.url, "iam": self.url, "resourceManager": self.url}

    def environment(self, folder: Path) -> dict[str, str]:
        """Application Default Credentials: a service-account key whose token service
        is this stand-in; no gcloud configuration, and the metadata server's probe
        answered here."""
        credentials = folder / "service-account-key.json"
        credentials.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": PROJECT,
                    "private_key_id": KEY_ID,
                    "private_key": self.private_key,
                    "client_email": CLIENT_EMAIL,
                    "client_id": "100000000000000000001",
                    "token_uri": f"{self.url}/token",
                }
            )
        )
        gcloud = folder / "gcloud"
        gcloud.mkdir(exist_ok=True)
        host = urllib.parse.urlsplit(self._metadata.url).netloc
        environment = {
            "GOOGLE_APPLICATION_CREDENTIALS": str(credentials),
            "CLOUDSDK_CONFIG": str(gcloud),
            "GCE_METADATA_IP": host,
            "GCE_METADATA_HOST": host,
        }
        if self._server.ca_file:
            environment["REQUESTS_CA_BUNDLE"] = self._server.ca_file
        return environment

    def reset(self) -> None:
        """Everything wiped: resources, records, faults; no latency, any hold let go."""
        self.pacing.reset()
        self._server.state = State(self.pacing)

    def clear_calls(self) -> None:
        with self.state.lock:
            self.state.calls = []

    def calls(self) -> list[tuple[str, str]]:
        with self.state.lock:
            return list(self.state.calls)

    def mutating(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.calls() if is_mutating(m, p)]

    def reads(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.calls() if not is_mutating(m, p)]

    def fail_next(self, count: int, status: int = 503, *, method: Optional[str] = None, path_contains: Optional[str] = None) -> None:
        """Answer the next ``count`` API calls (matching ``method`` / ``path_contains``) with ``status``."""
        with self.state.lock:
            self.state.faults.extend([(method, path_contains, status)] * count)

    def fail_operation(self, path_contains: str, status: int = 403, message: str = "Quota 'NETWORKS' exceeded.") -> None:
        """The next write whose path contains ``path_contains`` is accepted, and its operation ends in this error."""
        with self.state.lock:
            self.state.failing_operations.append((path_contains, status, message))

    def resource(self, collection: str, name: str, *, region: Optional[str] = None, project: str = PROJECT) -> Optional[dict[str, Any]]:
        scope = f"regions/{region}" if region else "global"
        with self.state.lock:
            found = self.state.resources.get((project, scope, collection), {}).get(name)
            return copy.deepcopy(found) if found else None

    def names(self, collection: str, *, region: Optional[str] = None, project: str = PROJECT) -> list[str]:
        scope = f"regions/{region}" if region else "global"
        with self.state.lock:
            return sorted(self.state.resources.get((project, scope, collection), {}))

    def put(self, collection: str, resource: dict[str, Any], *, region: Optional[str] = None, project: str = PROJECT) -> None:
        """Make a resource directly, as someone else would have (no operation, no call recorded)."""
        scope = f"regions/{region}" if region else "global"
        with self.state.lock:
            _store(self.state, self.url, project, scope, collection, copy.deepcopy(resource))

    def edit(self, collection: str, name: str, changes: dict[str, Any], *, region: Optional[str] = None, project: str = PROJECT) -> None:
        """Change a resource behind prepare's back (drift)."""
        scope = f"regions/{region}" if region else "global"
        with self.state.lock:
            self.state.resources[(project, scope, collection)][name].update(copy.deepcopy(changes))

    def policy(self, resource: str) -> dict[str, Any]:
        with self.state.lock:
            return copy.deepcopy(self.state.policies.get(resource, {}))

    def account(self, email: str) -> Optional[dict[str, Any]]:
        with self.state.lock:
            return copy.deepcopy(self.state.accounts.get(email))

    def close(self) -> None:
        self._server.close()
        self._metadata.close()


# -- the HTTP side ----------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any
    public_key: Any = None

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm and a delayed ACK add 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def _handle(self) -> None:
        state: State = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        if path == "/token":
            state.pacing.before(mutating=False, what="POST token")
            self._token(state, raw)
            return
        hold = state.pacing.before(mutating=is_mutating(self.command, path), what=_label(self.command, path, raw))
        if hold is not None and not hold.forward:
            self._hang_up(hold)
            return
        with state.lock:
            state.calls.append((self.command, path))
            fault = next((f for f in state.faults if f[0] in (None, self.command) and (f[1] is None or f[1] in path)), None)
            if fault is not None:
                state.faults.remove(fault)
        try:
            if fault is not None:
                raise Answer(fault[2], "injected by the stand-in")
            if not self._authorized(state):
                raise Answer(401, "Request is missing required authentication credential. Expected OAuth 2 access token.")
            body = json.loads(raw) if raw else {}
            with state.lock:
                status, answer = _route(state, self._base(), self.command, path, body, urllib.parse.parse_qs(url.query))
        except Answer as error:
            status, answer = error.status, _error(error)
        if hold is not None:
            self._hang_up(hold)
            return
        self._send(status, answer)

    def _hang_up(self, hold: Hold) -> None:
        """Never answer the held call: wait for the test, then drop the connection."""
        hold.wait_here()
        self.close_connection = True

    def _token(self, state: State, raw: bytes) -> None:
        form = urllib.parse.parse_qs(raw.decode())
        with state.lock:
            state.token_requests += 1
        claims = _verified(self.public_key, (form.get("assertion") or [""])[0])
        good = form.get("grant_type") == [JWT_GRANT] and claims is not None and claims.get("aud", "").endswith("/token")
        if state.refuse_refresh or not good:
            self._send(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
            return
        self._send(200, {"access_token": state.token, "expires_in": 3599, "token_type": "Bearer"})

    def _authorized(self, state: State) -> bool:
        bearer = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        if bearer == state.token:
            return True
        claims = _verified(self.public_key, bearer)  # a self-signed JWT
        return claims is not None and "cloud-platform" in claims.get("scope", "")

    def _base(self) -> str:
        scheme = "https" if getattr(self.server.socket, "context", None) else "http"
        return f"{scheme}://{self.headers.get('Host')}"

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True


class _NotAVirtualMachine(http.server.BaseHTTPRequestHandler):
    """The metadata server's address answers, without ``Metadata-Flavor: Google``."""

    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


def _verified(public_key: Any, token: str) -> Optional[dict[str, Any]]:
    """The claims of a JWT signed (RS256) by the service-account key, unexpired; None otherwise."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    def decode(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    try:
        header, payload, signature = token.split(".")
        public_key.verify(decode(signature), f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
        claims = json.loads(decode(payload))
    except (ValueError, InvalidSignature):
        return None
    if json.loads(decode(header)).get("kid") != KEY_ID or claims.get("iss") != CLIENT_EMAIL or claims.get("exp", 0) < time.time():
        return None
    return claims


def _label(method: str, path: str, raw: bytes) -> str:
    """``POST regions/europe-west1/subnetworks/nodes``: the call, short, with the name an insert carries in its body."""
    where = path.split(f"/projects/{PROJECT}/", 1)[-1]
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {}
    name = body.get("name") or body.get("accountId") if isinstance(body, dict) else None
    return f"{method} {where}/{name}" if name and not where.endswith(f"/{name}") else f"{method} {where}"


def _error(error: Answer) -> dict[str, Any]:
    reason = error.reason or {404: "notFound", 409: "alreadyExists", 429: "rateLimitExceeded", 503: "backendError"}.get(error.status, "")
    return {
        "error": {
            "code": error.status,
            "message": error.message,
            "errors": [{"message": error.message, "domain": "global", "reason": reason}],
            "status": "ABORTED" if error.reason == "aborted" else _STATUS.get(error.status, "UNKNOWN"),
        }
    }


# -- routes (called with the state's lock held) ------------------------------------


def _route(
    state: State, base: str, method: str, path: str, body: dict[str, Any], query: dict[str, list[str]]
) -> tuple[int, dict[str, Any]]:
    for pattern, route in (
        (_COMPUTE, _compute),
        (_REGIONS, _regions),
        (_SERVER_CONFIG, _server_config),
        (_ACCOUNTS, _accounts),
        (_PROJECT_POLICY, _project_policy),
    ):
        match = pattern.match(path)
        if match:
            arguments = match.groupdict()
            if arguments["project"] != PROJECT:
                raise Answer(404, f"The resource 'projects/{arguments['project']}' was not found")
            if pattern is _ACCOUNTS:
                arguments["query"] = query
            return route(state, base, method, path, body, **arguments)
    raise Answer(404, f"no route for {method} {path}")


def _compute(
    state: State,
    base: str,
    method: str,
    path: str,
    body: dict[str, Any],
    *,
    project: str,
    scope: str,
    region: Optional[str],
    collection: str,
    name: Optional[str],
    verb: Optional[str],
) -> tuple[int, dict[str, Any]]:
    if region is not None and region not in REGIONS:
        raise Answer(404, f"The resource 'projects/{project}/regions/{region}' was not found")
    if collection == "operations":
        operation = state.operations.get(name or "")
        if operation is None:
            raise Answer(404, f"The resource 'projects/{project}/{scope}/operations/{name}' was not found")
        if verb == "wait" or operation["pollsLeft"] <= 0:
            operation["status"] = "DONE"
        else:
            operation["pollsLeft"] -= 1
        if operation["status"] == "DONE" and operation.get("failure"):
            status, message = operation.pop("failure")
            operation.update(
                httpErrorStatusCode=status,
                httpErrorMessage=http.HTTPStatus(status).phrase.upper(),
                error={"errors": [{"code": "QUOTA_EXCEEDED", "message": message}]},
            )
        return 200, {k: v for k, v in operation.items() if k != "pollsLeft"}
    items = state.resources.setdefault((project, scope, collection), {})
    where = f"projects/{project}/{scope}/{collection}"
    if method == "GET" and name is None:
        return 200, {"kind": f"compute#{collection[:-1]}List", "items": list(items.values()), "selfLink": f"{base}/compute/v1/{where}"}
    if method == "GET":
        if name not in items:
            raise Answer(404, f"The resource '{where}/{name}' was not found")
        return 200, items[name]
    if method == "POST" and name is None:
        if body.get("name") in items:
            raise Answer(409, f"The resource '{where}/{body['name']}' already exists")
        resource = _store(state, base, project, scope, collection, body)
        return 200, _operation(state, base, project, scope, path, "insert", resource["selfLink"])
    if name not in items:
        raise Answer(404, f"The resource '{where}/{name}' was not found")
    if method == "PATCH":
        items[name].update({k: v for k, v in body.items() if k != "name"})
        return 200, _operation(state, base, project, scope, path, "patch", items[name]["selfLink"])
    if method == "POST" and verb == "setPrivateIpGoogleAccess":
        items[name]["privateIpGoogleAccess"] = bool(body.get("privateIpGoogleAccess"))
        return 200, _operation(state, base, project, scope, path, "setPrivateIpGoogleAccess", items[name]["selfLink"])
    raise Answer(400, f"{method} is not supported on {path}")


def _store(state: State, base: str, project: str, scope: str, collection: str, resource: dict[str, Any]) -> dict[str, Any]:
    name = resource["name"]
    resource.update(
        kind=f"compute#{collection[:-1]}",
        id=str(next(state.counter)),
        creationTimestamp="2025-01-01T00:00:00.000-08:00",
        selfLink=f"{base}/compute/v1/projects/{project}/{scope}/{collection}/{name}",
    )
    if scope != "global":
        resource["region"] = f"{base}/compute/v1/projects/{project}/{scope}"
    if "network" in resource and not resource["network"].startswith("http"):
        resource["network"] = f"{base}/compute/v1/{resource['network'].removeprefix('/')}"
    if collection == "subnetworks":
        resource.setdefault("privateIpGoogleAccess", False)
        resource.setdefault("gatewayAddress", resource["ipCidrRange"].rsplit(".", 1)[0] + ".1")
    if collection == "networks":
        resource.setdefault("routingConfig", {"routingMode": "REGIONAL"})
    state.resources.setdefault((project, scope, collection), {})[name] = resource
    return resource


def _operation(state: State, base: str, project: str, scope: str, path: str, kind: str, target: str) -> dict[str, Any]:
    name = f"operation-{next(state.counter)}-stand-in"
    operation = {
        "kind": "compute#operation",
        "id": str(next(state.counter)),
        "name": name,
        "operationType": kind,
        "targetLink": target,
        "status": "RUNNING",
        "progress": 0,
        "insertTime": "2025-01-01T00:00:00.000-08:00",
        "selfLink": f"{base}/compute/v1/projects/{project}/{scope}/operations/{name}",
        "pollsLeft": state.polls_before_done - 1,
    }
    if scope != "global":
        operation["region"] = f"{base}/compute/v1/projects/{project}/{scope}"
    failing = next((f for f in state.failing_operations if f[0] in path), None)
    if failing is not None:
        state.failing_operations.remove(failing)
        operation["failure"] = (failing[1], failing[2])
    state.operations[name] = operation
    return {k: v for k, v in operation.items() if k not in ("pollsLeft", "failure")}


def _regions(
    state: State, base: str, method: str, path: str, body: dict[str, Any], *, project: str, name: Optional[str]
) -> tuple[int, dict[str, Any]]:
    def region(region_name: str) -> dict[str, Any]:
        return {
            "kind": "compute#region",
            "name": region_name,
            "status": "UP",
            "zones": [f"{base}/compute/v1/projects/{project}/zones/{zone}" for zone in REGIONS[region_name]],
            "selfLink": f"{base}/compute/v1/projects/{project}/regions/{region_name}",
        }

    if name is None:
        return 200, {"kind": "compute#regionList", "items": [region(r) for r in sorted(REGIONS)]}
    if name not in REGIONS:
        raise Answer(404, f"The resource 'projects/{project}/regions/{name}' was not found")
    return 200, region(name)


def _server_config(
    state: State, base: str, method: str, path: str, body: dict[str, Any], *, project: str, location: str
) -> tuple[int, dict[str, Any]]:
    if location not in REGIONS and not any(location in zones for zones in REGIONS.values()):
        raise Answer(400, f'Location "{location}" is not a valid location.')
    return 200, state.server_config


def _accounts(
    state: State,
    base: str,
    method: str,
    path: str,
    body: dict[str, Any],
    *,
    project: str,
    email: Optional[str],
    verb: Optional[str],
    query: dict[str, list[str]],
) -> tuple[int, dict[str, Any]]:
    if email is None:
        if method != "POST":
            raise Answer(400, "listing is not supported")
        account_id = body["accountId"]
        address = f"{account_id}@{project}.iam.gserviceaccount.com"
        if address in state.accounts:
            raise Answer(409, f"Service account {account_id} already exists within project projects/{project}.")
        account = {
            "name": f"projects/{project}/serviceAccounts/{address}",
            "projectId": project,
            "uniqueId": str(next(state.counter)),
            "email": address,
            "etag": "MDEwMjE5MjA=",
            "oauth2ClientId": str(next(state.counter)),
            **{k: v for k, v in body.get("serviceAccount", {}).items() if k in ("displayName", "description")},
        }
        state.accounts[address] = account
        return 200, account
    if email not in state.accounts:
        raise Answer(404, "Unknown service account")
    if verb is None:
        return 200, state.accounts[email]
    # The method has no request body: its one option is a query parameter.
    requested = int((query.get("options.requestedPolicyVersion") or ["0"])[0])
    return _policy(state, f"projects/{project}/serviceAccounts/{email}", verb, body, requested)


def _project_policy(
    state: State, base: str, method: str, path: str, body: dict[str, Any], *, project: str, verb: str
) -> tuple[int, dict[str, Any]]:
    requested = int(body.get("options", {}).get("requestedPolicyVersion", 0))
    return _policy(state, f"projects/{project}", verb, body, requested)


def _policy(state: State, resource: str, verb: str, body: dict[str, Any], requested: int = 0) -> tuple[int, dict[str, Any]]:
    current = state.policies.setdefault(resource, {"version": 1, "etag": _etag(0)})
    if verb == "getIamPolicy":
        if max(requested, 1) < current["version"]:
            raise Answer(
                400,
                f"Requested policy version ({max(requested, 1)}) cannot be less than the existing policy version "
                f"({current['version']}). For more information, please refer to https://cloud.google.com/iam/docs/policies#versions.",
            )
        return 200, current
    policy = body.get("policy", {})
    if policy.get("etag") != current["etag"]:
        raise Answer(
            409, "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.", "aborted"
        )
    serial = int(base64.b64decode(current["etag"]).decode().removeprefix("v")) + 1
    bindings = [b for b in policy.get("bindings", []) if b.get("members")]
    state.policies[resource] = {"version": policy.get("version", 1), "etag": _etag(serial), **({"bindings": bindings} if bindings else {})}
    return 200, state.policies[resource]


def _etag(serial: int) -> str:
    return base64.b64encode(f"v{serial}".encode()).decode()
