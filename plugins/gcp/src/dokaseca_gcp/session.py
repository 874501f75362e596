"""The one module that loads the Google Cloud libraries, and only inside its functions.

Credentials are Application Default Credentials (``google.auth.default()``:
GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, the metadata server),
loaded once per process; clients use the REST transport, our user agent and
the endpoints of ``gcp.endpoints``, and are made once per endpoint. Every
call goes through google-api-core's ``Retry`` (429 and 5xx answers), every
long-running operation is awaited through the SDK's operation object, and
Google's failures become :class:`ProviderError` s naming the cluster, the call
and Google's message, never a token.

IAM's admin API has no REST client library (``google-cloud-iam`` speaks gRPC
only), so its few calls go through google-auth's own authorized session, with
the same retry and errors.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import time
import urllib.parse
from typing import Any, Callable, Iterator, Optional

import attrs

from dokaseca.errors import ProviderError
from dokaseca.models import ClusterSpec
from dokaseca.once import Once
from dokaseca.progress import report

from dokaseca_gcp.config import GcpConfig, GcpEndpoints

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
CALL_TIMEOUT = 60.0  # one request
RETRY_TIMEOUT = 120.0  # one call, with its retries
OPERATION_TIMEOUT = 900.0  # a Cloud NAT can take minutes
IAM_ENDPOINT = "https://iam.googleapis.com"
POLICY_VERSION = 3  # IAM policies with conditions: read and written whole, conditional bindings kept

CREDENTIAL_CHAIN = (
    "GOOGLE_APPLICATION_CREDENTIALS (a service-account key or credential configuration file)",
    "gcloud's application default credentials (~/.config/gcloud/application_default_credentials.json)",
    "the metadata server of a Google Cloud VM",
)
LOGIN_HINT = (
    "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a "
    "service-account key or workload identity federation credential file"
)

_credentials = Once()
_clients = Once()
_loaded: list[Any] = []  # every credentials object made: their secrets are scrubbed from messages

COMPUTE_CLIENTS = {
    "networks": "NetworksClient",
    "subnetworks": "SubnetworksClient",
    "routers": "RoutersClient",
    "firewalls": "FirewallsClient",
    "regions": "RegionsClient",
    "global_operations": "GlobalOperationsClient",
    "region_operations": "RegionOperationsClient",
}


@attrs.frozen(kw_only=True)
class Gcp:
    """One cluster's way into Google Cloud: its project, region and endpoints."""

    project: str
    region: str
    endpoints: GcpEndpoints

    def compute(self, kind: str) -> Any:
        return _client(("compute", kind), self.endpoints.compute)

    def container(self) -> Any:
        return _client(("container", "cluster_manager"), self.endpoints.container)

    def projects(self) -> Any:
        return _client(("resourcemanager", "projects"), self.endpoints.resource_manager)

    def call(self, method: Callable[..., Any], **request: Any) -> Any:
        """``method(**request)`` with our retry and timeout."""
        return method(**request, retry=_retry(), timeout=CALL_TIMEOUT)

    def find(self, method: Callable[..., Any], **request: Any) -> Optional[Any]:
        """Like :meth:`call`, but None when Google answers 404."""
        from google.api_core.exceptions import NotFound

        try:
            return self.call(method, **request)
        except NotFound:
            return None

    def run(self, what: str, method: Callable[..., Any], **request: Any) -> None:
        """A Compute call that starts an operation (``insert_unary``, ``patch_unary``...),
        awaited through the SDK's ExtendedOperation.

        The generated clients poll an operation through an operations client of
        their own that always talks to Google's public endpoint; ours honours
        ``gcp.endpoints.compute``. "Already exists" counts as done: another
        process, or an earlier answer lost on the way back, made it.
        """
        from google.api_core.exceptions import Conflict

        try:
            started = self.call(method, **request)
        except Conflict:
            return
        if started.region:
            operations = self.compute("region_operations")
            poll = {"project": request["project"], "region": last_segment(started.region), "operation": started.name}
        else:
            operations = self.compute("global_operations")
            poll = {"project": request["project"], "operation": started.name}
        wait(_operation_class().make(functools.partial(operations.get, **poll, timeout=CALL_TIMEOUT), lambda: None, started), what)

    def iam(self, method: str, path: str, body: Optional[dict[str, Any]] = None) -> Optional[dict[str, Any]]:
        """One IAM REST call (``v1/projects/...``); None when Google answers 404,
        or 409 ("already exists": as for :meth:`run`)."""
        from google.api_core.exceptions import Conflict, NotFound

        try:
            return _retry()(_iam_request)(self.endpoints.iam or IAM_ENDPOINT, method, path, body)
        except (NotFound, Conflict):
            return None

    def policy(self, resource: str) -> Optional[dict[str, Any]]:
        """The IAM policy of a project (``projects/P``) or a service account
        (``projects/P/serviceAccounts/EMAIL``) in its JSON form, conditions
        included (version 3); None when the resource does not exist."""
        from google.api_core.exceptions import NotFound
        from google.protobuf import json_format

        if "/serviceAccounts/" in resource:
            # IAM's getIamPolicy takes no body: the version is a query parameter (a version
            # below the stored one, as after our own setIamPolicy, is refused with 400).
            path = f"v1/{resource}:getIamPolicy?options.requestedPolicyVersion={POLICY_VERSION}"
            return _retry()(_iam_request)(self.endpoints.iam or IAM_ENDPOINT, "POST", path, None, missing_ok=True)
        try:
            found = self.call(
                self.projects().get_iam_policy, request={"resource": resource, "options": {"requested_policy_version": POLICY_VERSION}}
            )
        except NotFound:
            return None
        return json_format.MessageToDict(found)

    def edit_policy(self, resource: str, edit: Callable[[dict[str, Any]], None]) -> None:
        """Read the policy, ``edit`` it in place, write it back with the etag read.
        A writer in between makes Google answer 409; then the whole
        read-edit-write is done again (google-api-core's Retry, as Google advises)."""
        from google.api_core import exceptions, retry
        from google.iam.v1 import policy_pb2
        from google.protobuf import json_format

        def once() -> None:
            current = self.policy(resource) or {}
            edit(current)
            current["version"] = POLICY_VERSION
            if "/serviceAccounts/" in resource:
                _retry()(_iam_request)(self.endpoints.iam or IAM_ENDPOINT, "POST", f"v1/{resource}:setIamPolicy", {"policy": current})
            else:
                policy = json_format.ParseDict(current, policy_pb2.Policy())
                self.call(self.projects().set_iam_policy, request={"resource": resource, "policy": policy})

        # A service account made a moment ago can still be unknown to its policy's API.
        meanwhile = (exceptions.Conflict, exceptions.Aborted) + ((exceptions.NotFound,) if "/serviceAccounts/" in resource else ())
        concurrent_writer = retry.Retry(predicate=retry.if_exception_type(*meanwhile), initial=0.2, maximum=5.0, timeout=RETRY_TIMEOUT)
        concurrent_writer(once)()


def connect(cluster: ClusterSpec) -> Gcp:
    """The credentials are loaded here (no call yet); the first call checks them."""
    config: GcpConfig = cluster.provider_config
    _adc()
    return Gcp(project=config.project, region=cluster.region or "", endpoints=config.endpoints)


def wait(operation: Any, what: str) -> None:
    """Until the operation is done, telling the user while it is not."""
    from google.api_core import retry
    from google.api_core.future import polling

    started = time.monotonic()
    report(f"waiting for {what}")

    def still_running(_: Exception) -> None:
        report(f"waiting for {what} ({time.monotonic() - started:.0f} s)")

    # The SDK's default polling (1 s, growing to 20 s), plus a line each time it finds the operation running.
    polls = retry.Retry(
        predicate=retry.if_exception_type(polling._OperationNotComplete),
        initial=1.0,
        maximum=20.0,
        multiplier=1.5,
        on_error=still_running,
    )
    operation.result(timeout=OPERATION_TIMEOUT, retry=_retry(), polling=polls)


@functools.lru_cache(maxsize=None)
def _operation_class() -> type:
    """The SDK's ExtendedOperation with Compute's names for the error fields (as the
    generated clients define it for themselves)."""
    from google.api_core import extended_operation

    class ComputeOperation(extended_operation.ExtendedOperation):
        @property
        def error_message(self) -> Any:
            return self._extended_operation.http_error_message

        @property
        def error_code(self) -> Any:
            return self._extended_operation.http_error_status_code

    return ComputeOperation


def last_segment(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


@functools.lru_cache(maxsize=None)
def _retry() -> Any:
    """Throttling and server errors are retried with jittered backoff; anything else is an answer."""
    from google.api_core import exceptions, retry

    return retry.Retry(
        predicate=retry.if_exception_type(
            exceptions.TooManyRequests,
            exceptions.InternalServerError,
            exceptions.BadGateway,
            exceptions.ServiceUnavailable,
            exceptions.GatewayTimeout,
        ),
        initial=0.5,
        maximum=30.0,
        multiplier=2.0,
        timeout=RETRY_TIMEOUT,
    )


def _adc() -> Any:
    def make() -> Any:
        import google.auth

        credentials, _ = google.auth.default(scopes=list(SCOPES))
        _loaded.append(credentials)
        return credentials

    return _credentials.value("adc", make)


def _client(kind: tuple[str, str], endpoint: Optional[str]) -> Any:
    def make() -> Any:
        from google.api_core.client_options import ClientOptions
        from google.api_core.gapic_v1.client_info import ClientInfo

        from dokaseca import __version__

        api, name = kind
        if api == "compute":
            from google.cloud import compute_v1

            cls = getattr(compute_v1, COMPUTE_CLIENTS[name])
        elif api == "container":
            from google.cloud.container_v1 import ClusterManagerClient as cls
        else:
            from google.cloud.resourcemanager_v3 import ProjectsClient as cls
        return cls(
            credentials=_adc(),
            transport="rest",
            client_options=ClientOptions(api_endpoint=endpoint) if endpoint else None,
            client_info=ClientInfo(user_agent=f"dokaseca/{__version__}"),
        )

    return _clients.value((kind, endpoint), make)


def _iam_request(
    endpoint: str, method: str, path: str, body: Optional[dict[str, Any]], missing_ok: bool = False
) -> Optional[dict[str, Any]]:
    from google.api_core import exceptions
    from google.auth.transport.requests import AuthorizedSession

    session = _clients.value(("iam", endpoint), lambda: AuthorizedSession(_adc()))
    response = session.request(method, f"{endpoint.rstrip('/')}/{path}", json=body, timeout=CALL_TIMEOUT)
    if missing_ok and response.status_code == 404:
        return None
    if response.status_code >= 400:
        raise exceptions.from_http_response(response)
    return response.json() if response.content else {}


# -- errors ---------------------------------------------------------------------


@contextlib.contextmanager
def gcp_errors(cluster: ClusterSpec) -> Iterator[None]:
    """Turn what the Google libraries raise into a ProviderError a user can act on."""
    import requests
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth

    where = f"cluster {cluster.name}"
    project = cluster.provider_config.project
    try:
        yield
    except auth.DefaultCredentialsError as exc:
        raise ProviderError(
            f"{where}: no usable Google Cloud credentials ({_scrub(str(exc))}); "
            f"tried, in order: {'; '.join(CREDENTIAL_CHAIN)}; {LOGIN_HINT}"
        ) from None
    except auth.RefreshError as exc:
        raise ProviderError(f"{where}: Google refused the credentials ({_scrub(_first(exc))}); {LOGIN_HINT}") from None
    except auth.TransportError as exc:
        raise ProviderError(f"{where}: cannot reach Google's token service ({_scrub(_first(exc))}); check the network or a proxy") from None
    except api.RetryError as exc:
        cause = exc.cause
        detail = _describe(cause) if isinstance(cause, api.GoogleAPICallError) else _scrub(str(cause))
        raise ProviderError(f"{where}: Google Cloud kept failing for {RETRY_TIMEOUT:.0f} s, last: {detail}; try again later") from None
    except api.GoogleAPICallError as exc:
        raise ProviderError(f"{where}: Google Cloud {_describe(exc)}{_hint(exc, project)}") from None
    except concurrent.futures.TimeoutError:
        raise ProviderError(
            f"{where}: a Google Cloud operation did not finish within {OPERATION_TIMEOUT:.0f} s; "
            "it may still finish: run prepare again later"
        ) from None
    except requests.exceptions.ConnectionError as exc:
        raise ProviderError(f"{where}: cannot reach {_host(exc)}; check the network, a proxy, or gcp.endpoints") from None
    except requests.exceptions.Timeout as exc:  # a read timeout; a connect timeout is a ConnectionError too
        raise ProviderError(f"{where}: {_host(exc)} did not answer in time; run prepare again (it finishes what was started)") from None


def _host(exc: Any) -> str:
    return urllib.parse.urlsplit(exc.request.url).netloc if exc.request is not None else "Google Cloud"


def _describe(exc: Any) -> str:
    """``<call> failed: <code> <status>: <Google's message>``; the call is the HTTP method and
    path, or for a failed operation its type and target."""
    message = exc.message or ""
    request = getattr(getattr(exc, "response", None), "request", None)
    if request is not None:
        message = message.removeprefix(f"{request.method} {request.url}: ")
        call = f"{request.method} {urllib.parse.urlsplit(request.url).path}"
    else:  # a failed operation: the reasons are in its errors
        operation = getattr(exc, "response", None)
        call = f"operation {getattr(operation, 'operation_type', '?')} of {getattr(operation, 'target_link', '?')}"
        reasons = [getattr(error, "message", "") for error in exc.errors or ()]
        message = "; ".join(reason for reason in [message, *reasons] if reason)
    status = f" {exc.reason}" if getattr(exc, "reason", None) else ""
    return f"{call} failed: {exc.code}{status}: {_scrub(message)}"


def _hint(exc: Any, project: str) -> str:
    code = getattr(exc, "code", None)
    if code == 401:
        return f" ({LOGIN_HINT})"
    if code == 403:
        return (
            f" (the credentials lack this permission in project {project}, or its API is not enabled there: "
            "`gcloud services enable compute.googleapis.com container.googleapis.com iam.googleapis.com "
            "cloudresourcemanager.googleapis.com`; "
            "the GCP plugin's README lists what prepare needs)"
        )
    return ""


def _first(exc: BaseException) -> str:
    """google-auth puts the response body second in ``args``; its first argument is the message."""
    return str(exc.args[0]) if exc.args else str(exc)


def _scrub(text: str) -> str:
    """Google's messages do not carry a token, but never let one through if they do."""
    for credentials in _loaded:
        for name in ("token", "refresh_token", "client_secret", "_refresh_token", "_client_secret"):
            secret = getattr(credentials, name, None)
            if isinstance(secret, str) and len(secret) >= 8:
                text = text.replace(secret, "<redacted>")
    return text


def forget() -> None:
    """Forget the credentials whose secrets are scrubbed; the credentials and clients
    themselves are memos, dropped by :func:`dokaseca.once.forget_all`."""
    _loaded.clear()
