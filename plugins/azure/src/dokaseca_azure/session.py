"""The one module that loads the Azure SDK, and only inside its functions.

One credential per sign-in authority (azure-identity's DefaultAzureCredential:
a service principal or workload identity from the environment, a managed
identity, the Azure CLI's login...), one client per (endpoint, subscription,
API) with azure-core's own retries and timeouts and our user agent, the
subscription's tenant and locations, long-running operations awaited with
progress shown, and Azure failures turned into :class:`ProviderError` s that
name the cluster, the call and Azure's code and message, never a secret or a
token.

The Resource Manager endpoint is the fleet's: ``azure.cloud`` names one of
the clouds azure-core knows, ``azure.resourceManagerEndpoint`` any other
(Azure Stack Hub, the tests' stand-in); the token's scope follows it.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import threading
import time
from typing import Any, Callable, Iterator, Optional
from urllib.parse import urlsplit

import attrs

from dokaseca.errors import ProviderError
from dokaseca.models import ClusterSpec
from dokaseca.once import Once
from dokaseca.progress import report
from dokaseca.validators import did_you_mean

from dokaseca_azure.config import AzureConfig

CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60
PROGRESS_EVERY = 15  # seconds between "still waiting" lines

# CAPZ's cloud names -> azure-core's, and their Microsoft Entra sign-in hosts.
_CLOUDS = {
    "AzurePublicCloud": ("AZURE_PUBLIC_CLOUD", "login.microsoftonline.com"),
    "AzureUSGovernmentCloud": ("AZURE_US_GOVERNMENT", "login.microsoftonline.us"),
    "AzureChinaCloud": ("AZURE_CHINA_CLOUD", "login.chinacloudapi.cn"),
}
# kind -> (module, class, takes a subscription id)
_CLIENTS = {
    "subscriptions": ("azure.mgmt.resource.subscriptions", "SubscriptionClient", False),
    "resources": ("azure.mgmt.resource.resources", "ResourceManagementClient", True),
    "network": ("azure.mgmt.network", "NetworkManagementClient", True),
    "compute": ("azure.mgmt.compute", "ComputeManagementClient", True),
    "containerservice": ("azure.mgmt.containerservice", "ContainerServiceClient", True),
    "msi": ("azure.mgmt.msi", "ManagedServiceIdentityClient", True),
}
CREDENTIAL_FIX = (
    "export AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (a service principal; or AZURE_CLIENT_CERTIFICATE_PATH "
    "instead of the secret), run where a workload or managed identity is available, or sign in with `az login`"
)
_SECRET_VARIABLES = ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_PASSWORD")
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")
_BEARER = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)

_credentials = Once()
_clients = Once()
_tenants = Once()
_locations = Once()
_tokens_seen: set[str] = set()
_tokens_lock = threading.Lock()


@attrs.frozen(kw_only=True)
class Endpoint:
    """Where Resource Manager is and how to get a token for it."""

    url: str
    scope: str
    authority: Optional[str]  # None: azure-identity's own (AZURE_AUTHORITY_HOST, else public)
    custom: bool


@attrs.frozen(kw_only=True)
class Azure:
    """One cluster's way into Azure: its endpoint, subscription, tenant and location."""

    endpoint: Endpoint
    subscription_id: str
    tenant_id: str
    location: str

    def client(self, kind: str) -> Any:
        return client(self.endpoint, kind, self.subscription_id)

    def group_id(self, group: str) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{group}"


def connect(cluster: ClusterSpec) -> Azure:
    """The subscription (its tenant is the first call, and the first test of the
    credentials), then the cluster's location among the subscription's."""
    config: AzureConfig = cluster.provider_config
    subscription = config.subscription_id or os.environ.get("AZURE_SUBSCRIPTION_ID", "").strip()
    if not subscription:
        raise ProviderError(
            f"cluster {cluster.name}: no Azure subscription; set azure.subscriptionId, or export AZURE_SUBSCRIPTION_ID "
            "(`az account show --query id -o tsv` prints the current one)"
        )
    endpoint = endpoint_of(config)
    tenant = _tenants.value(
        (endpoint, subscription.lower()), lambda: client(endpoint, "subscriptions").subscriptions.get(subscription).tenant_id
    )
    location = cluster.region or ""
    known = _locations.value(
        (endpoint, subscription.lower()),
        lambda: frozenset(place.name for place in client(endpoint, "subscriptions").subscriptions.list_locations(subscription)),
    )
    if location not in known:
        raise ProviderError(
            f"cluster {cluster.name}: region {location!r} is not a location of subscription {subscription}; "
            f"{did_you_mean(location, known)} (`az account list-locations --query [].name -o tsv`)"
        )
    return Azure(endpoint=endpoint, subscription_id=subscription, tenant_id=tenant, location=location)


def endpoint_of(config: AzureConfig) -> Endpoint:
    if config.resource_manager_endpoint:
        url = config.resource_manager_endpoint.rstrip("/")
        return Endpoint(url=url, scope=f"{url}/.default", authority=None, custom=True)
    from azure.core import AzureClouds
    from azure.mgmt.core.tools import get_arm_endpoints

    cloud, login_host = _CLOUDS[config.cloud]
    arm = get_arm_endpoints(AzureClouds[cloud])
    # AZURE_AUTHORITY_HOST, when set, still wins over the cloud's sign-in host.
    authority = None if os.environ.get("AZURE_AUTHORITY_HOST") else login_host
    return Endpoint(url=arm["resource_manager"].rstrip("/"), scope=arm["credential_scopes"][0], authority=authority, custom=False)


def client(endpoint: Endpoint, kind: str, subscription_id: Optional[str] = None) -> Any:
    def make() -> Any:
        from dokaseca import __version__

        module, name, per_subscription = _CLIENTS[kind]
        cls = getattr(importlib.import_module(module), name)
        arguments: dict[str, Any] = dict(
            base_url=endpoint.url,
            credential_scopes=[endpoint.scope],
            user_agent=f"dokaseca/{__version__}",
            connection_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
        )
        credential = _credential(endpoint)
        return cls(credential, subscription_id, **arguments) if per_subscription else cls(credential, **arguments)

    return _clients.value((endpoint, kind, subscription_id), make)


def _credential(endpoint: Endpoint) -> Any:
    def make() -> Any:
        from azure.identity import DefaultAzureCredential

        options: dict[str, Any] = {}
        if endpoint.authority:
            options["authority"] = endpoint.authority
        if endpoint.custom:
            # msal would ask login.microsoftonline.com whether the authority is genuine.
            options["disable_instance_discovery"] = True
        # azure-identity warns on stderr, at length, when no credential works; prepare's
        # own error says the same in one line, with the fix. A program that sets up
        # logging itself (a level on the "azure.identity" logger) still gets it.
        identity_log = logging.getLogger("azure.identity")
        if identity_log.level == logging.NOTSET:
            identity_log.setLevel(logging.ERROR)
        return _Remembering(DefaultAzureCredential(**options))

    return _credentials.value((endpoint.authority, endpoint.custom), make)


class _Remembering:
    """The credential, noting each token it hands out, so that no message can show one."""

    def __init__(self, credential: Any) -> None:
        self._credential = credential

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        return _seen(self._credential.get_token(*scopes, **kwargs))

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        return _seen(self._credential.get_token_info(*scopes, options=options))

    def close(self) -> None:
        self._credential.close()


def _seen(token: Any) -> Any:
    with _tokens_lock:
        _tokens_seen.add(token.token)
    return token


# -- calls ---------------------------------------------------------------------------


def absent(call: Callable[..., Any], **arguments: Any) -> Optional[Any]:
    """``call(**arguments)``, or None when Azure answers 404."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return call(**arguments)
    except ResourceNotFoundError:
        return None


def finished(begin: Callable[..., Any], what: str) -> Callable[..., Any]:
    """``begin`` (a ``begin_*`` call) that waits for its long-running operation,
    saying so while it does; the poller follows Azure's Retry-After."""

    def call(**arguments: Any) -> Any:
        from azure.core.exceptions import HttpResponseError

        poller = begin(**arguments)
        started = time.monotonic()
        report(f"waiting for {what}")
        try:
            while not poller.done():
                poller.wait(PROGRESS_EVERY)
                if not poller.done():
                    report(f"waiting for {what} ({time.monotonic() - started:.0f} s)")
            return poller.result()
        except HttpResponseError as exc:
            # The failing request is a poll of an operation id: name what it was for.
            exc.dokaseca_operation = f"long-running operation for {what}"  # type: ignore[attr-defined]
            raise

    return call


# -- errors ------------------------------------------------------------------------------


@contextlib.contextmanager
def azure_errors(cluster: ClusterSpec) -> Iterator[None]:
    """Turn what the Azure SDK raises into a ProviderError a user can act on."""
    from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError, ServiceRequestError

    where = f"cluster {cluster.name}"
    try:
        yield
    except ClientAuthenticationError as exc:
        if exc.response is not None:  # Resource Manager refused the token
            raise ProviderError(f"{where}: Azure {_operation(exc)} failed: {_reason(exc)} (the credentials were not accepted)") from None
        raise ProviderError(f"{where}: no usable Azure credentials; {_tried(exc)}. To fix: {CREDENTIAL_FIX}") from None
    except HttpResponseError as exc:
        raise ProviderError(f"{where}: Azure {_operation(exc)} failed: {_reason(exc)}{_hint(exc)}") from None
    except ServiceRequestError as exc:
        url = endpoint_of(cluster.provider_config).url
        raise ProviderError(
            f"{where}: cannot reach Azure at {url} ({scrub(str(exc))}); check the network, a proxy, or azure.resourceManagerEndpoint"
        ) from None
    except AzureError as exc:
        raise ProviderError(f"{where}: {scrub(str(exc))}") from None


def _operation(exc: Any) -> str:
    """The call as ``PUT resourceGroups/web-1/providers/...``: the method and the
    path below the subscription, which is what names the resource."""
    named = getattr(exc, "dokaseca_operation", None)
    if named:
        return named
    request = getattr(exc.response, "request", None)
    if request is None:
        return "call"
    path = urlsplit(request.url).path
    path = re.sub(r"^/subscriptions/[^/]+/?", "", path) or "subscription"
    return f"{request.method} {path}"


def _reason(exc: Any) -> str:
    error = getattr(exc, "error", None)
    if error is not None and getattr(error, "code", None):
        return scrub(f"{error.code}: {error.message}")
    return scrub(f"HTTP {exc.status_code}: {exc.reason or exc.message}")


def _hint(exc: Any) -> str:
    code = getattr(getattr(exc, "error", None), "code", "") or ""
    if code in ("AuthorizationFailed", "LinkedAuthorizationFailed"):
        return " (the credentials lack this permission; the Azure plugin's README lists what prepare needs)"
    if code in ("SubscriptionNotFound", "InvalidSubscriptionId"):
        return " (check azure.subscriptionId, and that the credentials can see that subscription: `az account list -o table`)"
    return ""


def _tried(exc: Any) -> str:
    """What DefaultAzureCredential tried, one clause per source, from its own message."""
    lines = [line.strip() for line in str(exc).splitlines() if line.startswith("\t")]
    if not lines:
        return scrub(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    tried = []
    for line in lines:
        name, _, why = line.partition(":")
        first = why.strip().split(". ")[0].rstrip(".").removeprefix(name).strip()
        tried.append(f"{name} ({scrub(first)})")
    return "DefaultAzureCredential tried " + "; ".join(tried)


def scrub(text: str) -> str:
    """Azure messages should not carry a secret or a token; never let one through if they do."""
    with _tokens_lock:
        tokens = list(_tokens_seen)
    secrets = [os.environ.get(name, "") for name in _SECRET_VARIABLES] + tokens
    for secret in secrets:
        if len(secret) >= 8:
            text = text.replace(secret, "<redacted>")
    text = _BEARER.sub(r"\1<redacted>", text)
    return _JWT.sub("<redacted>", text)


def forget() -> None:
    """Forget the tokens seen (with the sessions, see :func:`dokaseca_azure.prepare.forget`)."""
    with _tokens_lock:
        _tokens_seen.clear()
