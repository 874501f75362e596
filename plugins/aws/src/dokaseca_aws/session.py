"""The one module that loads boto3, and only inside its functions.

A session per profile (made under a lock: boto3 sessions are not thread-safe,
its clients are), clients with botocore's own retries, timeouts and our user
agent, the account behind the credentials, and AWS failures turned into
:class:`ProviderError` s that name the cluster, the call and AWS's reason,
never a credential. The endpoint is boto3's business: ``AWS_ENDPOINT_URL``
(or ``endpoint_url`` in a profile) points every client elsewhere.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator, Optional

import attrs

from dokaseca.errors import ProviderError
from dokaseca.models import ClusterSpec
from dokaseca.once import Once
from dokaseca.validators import did_you_mean

# botocore's standard mode retries throttling, 5xx and connection errors with
# jittered backoff; a user's AWS_RETRY_MODE / AWS_MAX_ATTEMPTS still win.
DEFAULT_MAX_ATTEMPTS = 8
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60

CREDENTIAL_CHAIN = (
    "aws.profile (else AWS_PROFILE)",
    "AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY",
    "~/.aws/credentials and ~/.aws/config (SSO and assume-role profiles too)",
    "container and EC2 instance roles",
)

_sessions = Once()
_clients = Once()
_accounts = Once()
_regions = Once()
_client_creation = threading.Lock()


@attrs.frozen(kw_only=True)
class Aws:
    """One cluster's way into AWS: its profile, region and account."""

    profile: Optional[str]
    region: str
    account_id: str
    partition: str

    def client(self, service: str) -> Any:
        return client(self.profile, service, self.region)

    def iam_arn(self, resource: str) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:{resource}"

    def managed_policy_arn(self, name: str) -> str:
        return f"arn:{self.partition}:iam::aws:policy/{name}"


def connect(cluster: ClusterSpec) -> Aws:
    """Check the region offline, then ask STS who the credentials belong to (the first call)."""
    profile = cluster.provider_config.profile
    session, _ = _session(profile)
    region = cluster.region or ""
    _check_region(session, cluster.name, region)
    account_id = _accounts.value(profile, lambda: client(profile, "sts", region).get_caller_identity()["Account"])
    return Aws(profile=profile, region=region, account_id=account_id, partition=session.get_partition_for_region(region))


def client(profile: Optional[str], service: str, region: str) -> Any:
    def make() -> Any:
        session, config = _session(profile)
        with _client_creation:
            return session.client(service, region_name=region, config=config)

    return _clients.value((profile, service, region), make)


def _session(profile: Optional[str]) -> tuple[Any, Any]:
    def make() -> tuple[Any, Any]:
        import boto3
        import botocore.session
        from botocore.config import Config

        from dokaseca import __version__

        core = botocore.session.Session(profile=profile)
        core.get_scoped_config()  # an unknown profile fails here, before any call
        mode = core.get_config_variable("retry_mode")
        config = Config(
            retries={
                "mode": mode if mode in ("standard", "adaptive") else "standard",
                "max_attempts": core.get_config_variable("max_attempts") or DEFAULT_MAX_ATTEMPTS,
            },
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            user_agent_extra=f"dokaseca/{__version__}",
        )
        return boto3.Session(botocore_session=core), config

    return _sessions.value(profile, make)


def _check_region(session: Any, cluster: str, region: str) -> None:
    """Against botocore's own endpoint data: no call, so a typo costs nothing."""
    known = _regions.value(
        "ec2",
        lambda: frozenset(r for p in session.get_available_partitions() for r in session.get_available_regions("ec2", partition_name=p)),
    )
    if region in known:
        return
    import botocore

    hint = did_you_mean(region, known) if region else ""
    if not hint.startswith("did you mean"):
        hint = "`aws ec2 describe-regions` lists them"
    raise ProviderError(
        f"cluster {cluster}: region {region!r} is not an AWS region botocore {botocore.__version__} knows; {hint} "
        "(a region launched after this botocore needs `pip install -U boto3`)"
    )


@contextlib.contextmanager
def aws_errors(cluster: ClusterSpec) -> Iterator[None]:
    """Turn what boto3 raises into a ProviderError a user can act on."""
    from botocore import exceptions as bx

    where = f"cluster {cluster.name}"
    profile = cluster.provider_config.profile
    try:
        yield
    except bx.ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "?")
        message = _scrub(profile, str(error.get("Message", "")))
        raise ProviderError(f"{where}: AWS {exc.operation_name} failed: {code}: {message}{_hint(code)}") from None
    except bx.ProfileNotFound:
        raise ProviderError(
            f"{where}: aws.profile {profile!r} is not a profile in ~/.aws/config or ~/.aws/credentials "
            "(or AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE); `aws configure list-profiles` shows the ones there are"
        ) from None
    except bx.NoCredentialsError:
        raise ProviderError(
            f"{where}: no AWS credentials found; tried, in order: {'; '.join(CREDENTIAL_CHAIN)}. "
            "Set aws.profile to a profile of ~/.aws/config (after `aws sso login --profile NAME` for SSO), "
            "or export AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        ) from None
    except (bx.SSOError, bx.TokenRetrievalError, bx.UnauthorizedSSOTokenError, bx.SSOTokenLoadError):
        raise ProviderError(
            f"{where}: the AWS SSO session has expired or is missing; run `aws sso login{_profile_flag(profile)}`"
        ) from None
    except bx.PartialCredentialsError as exc:
        # botocore names the provider and the missing variable, never a value.
        raise ProviderError(f"{where}: incomplete AWS credentials: {exc}") from None
    except (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError) as exc:
        raise ProviderError(f"{where}: cannot reach AWS ({exc}); check the network, a proxy, or AWS_ENDPOINT_URL") from None
    except bx.BotoCoreError as exc:
        raise ProviderError(f"{where}: {_scrub(profile, str(exc))}") from None


def _hint(code: str) -> str:
    if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
        return " (the credentials lack this permission; the AWS plugin's README lists what prepare needs)"
    if code in ("ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "RequestExpired"):
        return " (refresh the credentials: `aws sso login`, or new keys)"
    return ""


def _profile_flag(profile: Optional[str]) -> str:
    return f" --profile {profile}" if profile else ""


def _scrub(profile: Optional[str], text: str) -> str:
    """AWS messages should not carry a key, but never let one through if they do."""
    try:
        credentials = _session(profile)[0].get_credentials()
        frozen = credentials.get_frozen_credentials() if credentials else None
    except Exception:  # no credentials to hide
        return text
    for secret in (frozen.access_key, frozen.secret_key, frozen.token) if frozen else ():
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code", "")


def absent(call: Any, missing: tuple[str, ...], **arguments: Any) -> Optional[Any]:
    """``call(**arguments)``, or None when AWS answers with one of the ``missing`` error codes."""
    from botocore.exceptions import ClientError

    try:
        return call(**arguments)
    except ClientError as exc:
        if error_code(exc) in missing:
            return None
        raise


def exists_ok(call: Any, codes: tuple[str, ...] = ("EntityAlreadyExists",)) -> Any:
    """``call``, with AWS's "already exists" (another process won a race) taken as success."""
    return lambda **arguments: absent(call, codes, **arguments)
