"""The one module that loads pyVmomi, and only inside its functions.

One session per vCenter, user and TLS setting, logged in once per process
(under a lock: clusters are prepared side by side) and logged out when the
process ends or :func:`logout_all` is called. vSphere faults become
:class:`ProviderError` s that name the cluster and the fix, never a password.

TLS, before any credential is sent:

- with ``vsphere.thumbprint``: that certificate and no other, on every
  connection, CA and host name unchecked, as govmomi (and so CAPV) pins it.
  pyVmomi's own ``thumbprint=`` is not used: it is only consulted when CA
  verification has already failed, and then turns verification off on the SSL
  context its later connections share;
- otherwise the system's CAs (``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` apply), or
  only those of ``vsphere.caFile``, with the host name checked.

A first plain TCP and TLS handshake, with a timeout (pyVmomi's first request
has none), tells an unreachable vCenter from an untrusted one and gives the
certificate's thumbprint to show, as govc does.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import http.client
import logging
import socket
import ssl
import threading
from pathlib import Path
from typing import Any, Iterator, Optional

import attrs

from dokaseca.errors import ProviderError
from dokaseca.models import ClusterSpec
from dokaseca.once import Once
from dokaseca.progress import report

from dokaseca_vsphere import credentials
from dokaseca_vsphere.config import split_server
from dokaseca_vsphere.inventory import READ_TYPES, Entity, Inventory

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10
READ_TIMEOUT = 120
PAGE_SIZE = 1000  # objects per RetrievePropertiesEx answer; the rest come by token
ALGORITHMS = {40: "sha1", 64: "sha256"}
NAME_MISMATCH = (62, 64)  # OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
TEMPLATE_PROPERTIES = ("config.template", "config.annotation", "config.vAppConfig.property")

_sessions = Once()
_live: list["Vcenter"] = []
_live_lock = threading.Lock()


@attrs.frozen
class Target:
    """Where and as whom to log in: the key of a session (no password in it)."""

    server: str
    username: str
    source: str
    thumbprint: Optional[str]  # lower-case hex, no colons
    ca_file: Optional[str]


@attrs.frozen
class VmConfig:
    template: bool
    annotation: str
    properties: dict[str, str]  # vApp property id -> value (the default when none is set)


@attrs.frozen(eq=False)
class Vcenter:
    """One logged-in session and the calls ``prepare`` makes with it."""

    target: Target
    content: Any
    stub: Any

    def inventory(self) -> Inventory:
        """Every datacenter, folder, datastore, network, compute resource, resource
        pool and VM: id, type, name and parent, in one paged property-collector query."""
        from pyVmomi import vim, vmodl

        collector = vmodl.query.PropertyCollector
        view = self.content.viewManager.CreateContainerView(
            container=self.content.rootFolder, type=[getattr(vim, kind) for kind in READ_TYPES], recursive=True
        )
        try:
            spec = collector.FilterSpec(
                objectSet=[
                    collector.ObjectSpec(
                        obj=view, skip=True, selectSet=[collector.TraversalSpec(name="view", type=vim.view.ContainerView, path="view", skip=False)]
                    )
                ],
                propSet=[collector.PropertySpec(type=vim.ManagedEntity, pathSet=["name", "parent"])],
            )
            contents = self._retrieve(spec)
        finally:
            view.DestroyView()
        root = self.content.rootFolder
        entities = [Entity(moid=root._moId, type="Folder", name="Datacenters", parent=None)]
        for content in contents:
            values = {p.name: p.val for p in content.propSet}
            parent = values.get("parent")
            entities.append(Entity(moid=content.obj._moId, type=content.obj._wsdlName, name=values.get("name", ""), parent=parent._moId if parent else None))
        log.debug("vCenter %s: %d inventory objects", self.target.server, len(entities))
        return Inventory(entities)

    def vm_config(self, moid: str) -> VmConfig:
        from pyVmomi import vim, vmodl

        collector = vmodl.query.PropertyCollector
        spec = collector.FilterSpec(
            objectSet=[collector.ObjectSpec(obj=vim.VirtualMachine(moid, self.stub))],
            propSet=[collector.PropertySpec(type=vim.VirtualMachine, pathSet=list(TEMPLATE_PROPERTIES))],
        )
        contents = self._retrieve(spec)
        values = {p.name: p.val for p in contents[0].propSet} if contents else {}
        properties = {p.id: p.value or p.defaultValue or "" for p in values.get("config.vAppConfig.property") or () if p.id}
        return VmConfig(template=bool(values.get("config.template")), annotation=values.get("config.annotation") or "", properties=properties)

    def vm_by_instance_uuid(self, datacenter: str, uuid: str) -> Optional[str]:
        from pyVmomi import vim

        found = self.content.searchIndex.FindByUuid(datacenter=vim.Datacenter(datacenter, self.stub), uuid=uuid, vmSearch=True, instanceUuid=True)
        return found._moId if found is not None else None

    def create_folder(self, parent: str, name: str) -> str:
        from pyVmomi import vim

        try:
            return vim.Folder(parent, self.stub).CreateFolder(name)._moId
        except vim.fault.DuplicateName as fault:  # another process made it meanwhile
            return _taken(fault, "Folder", name)

    def create_resource_pool(self, parent: str, name: str) -> str:
        from pyVmomi import vim

        def allocation() -> Any:
            # What govc pool.create and the vSphere Client give a new pool: no reservation
            # but an expandable one, no limit, normal shares.
            return vim.ResourceAllocationInfo(reservation=0, expandableReservation=True, limit=-1, shares=vim.SharesInfo(level="normal", shares=0))

        spec = vim.ResourceConfigSpec(cpuAllocation=allocation(), memoryAllocation=allocation())
        try:
            return vim.ResourcePool(parent, self.stub).CreateResourcePool(name, spec)._moId
        except vim.fault.DuplicateName as fault:
            return _taken(fault, "ResourcePool", name)

    def logout(self) -> None:
        self.content.sessionManager.Logout()

    def _retrieve(self, spec: Any) -> list[Any]:
        from pyVmomi import vmodl

        collector = self.content.propertyCollector
        result = collector.RetrievePropertiesEx(specSet=[spec], options=vmodl.query.PropertyCollector.RetrieveOptions(maxObjects=PAGE_SIZE))
        contents: list[Any] = []
        while result is not None:
            contents.extend(result.objects)
            result = collector.ContinueRetrievePropertiesEx(token=result.token) if result.token else None
        return contents


def _taken(fault: Any, kind: str, name: str) -> str:
    holder = fault.object
    if holder is None or holder._wsdlName != kind:
        what = holder._wsdlName if holder is not None else "something"
        raise ProviderError(f"cannot create {kind} {name!r}: a {what} of that name is already there; rename it or choose another name")
    return holder._moId


# -- logging in ------------------------------------------------------------------------


def connect(cluster: ClusterSpec) -> Vcenter:
    """The session for the cluster's vCenter and credentials, made on first use."""
    config = cluster.provider_config
    secret = credentials.read(cluster)
    ca_file = str(Path(cluster.source).parent / Path(config.ca_file).expanduser()) if config.ca_file else None
    pin = config.thumbprint.replace(":", "").lower() if config.thumbprint else None
    target = Target(server=config.server, username=secret.username, source=secret.source, thumbprint=pin, ca_file=ca_file)
    return _sessions.value(target, lambda: _login(cluster.name, target, secret.password))


def _login(cluster: str, target: Target, password: str) -> Vcenter:
    from pyVim.connect import SmartConnect
    from pyVmomi import vim

    where = f"cluster {cluster}: vCenter {target.server}"
    host, port = split_server(target.server)
    report(f"connecting to vCenter {target.server}")
    certificate = _handshake(where, host, port)
    if target.thumbprint and _digest(certificate, target.thumbprint) != target.thumbprint:
        raise _mismatch(where, target.thumbprint, certificate)
    context = _tls_context(cluster, target)
    log.debug("logging in to vCenter %s as %s (from %s)", target.server, target.username, target.source)
    try:
        si = SmartConnect(host=host, port=port, user=target.username, pwd=password, sslContext=context, httpConnectionTimeout=READ_TIMEOUT)
        content = si.RetrieveContent()
    except vim.fault.InvalidLogin:
        raise ProviderError(
            f"{where} refused the login of {target.username!r} (from {target.source}): incorrect user name or password; "
            f"check {target.source}"
        ) from None
    except ThumbprintMismatch as exc:  # another certificate than the one the first handshake saw
        raise _mismatch(where, target.thumbprint or "", exc.certificate) from None
    except ssl.SSLCertVerificationError as exc:
        if exc.verify_code in NAME_MISMATCH:  # trusted, but issued to another name: a CA file would not help
            raise ProviderError(
                f"{where} presents a certificate that is not for {host!r}; set vsphere.server to the name its certificate is for "
                "(`openssl s_client -connect <server>:443 </dev/null | openssl x509 -noout -ext subjectAltName` shows them), "
                f"or pin this certificate: its SHA-1 thumbprint is {thumbprint(certificate)}; set vsphere.thumbprint to it "
                "once its administrator has confirmed it"
            ) from None
        raise ProviderError(
            f"{where} presents a certificate this machine does not trust ({exc.verify_message}); trust its CA with vsphere.caFile "
            f"(a PEM file), or pin this certificate: its SHA-1 thumbprint is {thumbprint(certificate)}; once its administrator has "
            "confirmed it (`govc about.cert -thumbprint`), set vsphere.thumbprint to it (CAPV uses the same pin)"
        ) from None
    except vim.fault.HostConnectFault as fault:
        raise ProviderError(f"{where}: {_scrub(fault.msg, password)}") from None
    except vim.fault.VimFault as fault:
        raise ProviderError(f"{where} refused the login of {target.username!r}: {_scrub(fault.msg, password)}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise ProviderError(f"{where}: the connection failed while logging in ({_scrub(str(exc), password)})") from None
    except Exception as exc:  # pyVim's own "is down or is not a VIM server"
        raise ProviderError(f"{where} does not answer as a vCenter on port {port} ({_scrub(str(exc), password)}); check vsphere.server") from None
    vcenter = Vcenter(target=target, content=content, stub=si._stub)  # the stub makes references to objects by id
    with _live_lock:
        if not _live:
            atexit.register(logout_all)  # once per batch of sessions: logout_all empties the list, unregisters itself
        _live.append(vcenter)
    return vcenter


def logout_all() -> None:
    """End every session this process opened; a session left open ends on its own after vCenter's idle timeout."""
    with _live_lock:
        sessions, _live[:] = list(_live), []
        atexit.unregister(logout_all)
    for vcenter in sessions:
        with contextlib.suppress(Exception):
            vcenter.logout()


def _handshake(where: str, host: str, port: int) -> bytes:
    """The certificate the server presents (DER), from a handshake that trusts anything."""
    try:
        raw = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ProviderError(
            f"{where} cannot be reached ({reason}); check vsphere.server, and that this machine reaches it on port {port} "
            "(DNS, a firewall, a proxy)"
        ) from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            return tls.getpeercert(binary_form=True) or b""
    except OSError as exc:
        raise ProviderError(f"{where} accepts connections on port {port} but no TLS handshake ({exc}); is that vCenter's HTTPS port?") from None
    finally:
        raw.close()


def _tls_context(cluster: str, target: Target) -> ssl.SSLContext:
    if target.thumbprint:
        return PinnedContext.pinned(target.thumbprint)
    try:
        return ssl.create_default_context(cafile=target.ca_file)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ProviderError(f"cluster {cluster}: vsphere.caFile {target.ca_file!r} cannot be used ({reason}); give a PEM file of CA certificates") from None


class ThumbprintMismatch(ssl.SSLError):
    def __init__(self, certificate: bytes) -> None:
        super().__init__("the server's certificate is not the pinned one")
        self.certificate = certificate


class PinnedContext(ssl.SSLContext):
    """Accepts one certificate, by its digest, on every connection made with it."""

    pin: str

    @classmethod
    def pinned(cls, pin: str) -> "PinnedContext":
        context = cls(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the pin stands in for the CA and the host name
        context.pin = pin
        return context

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:  # type: ignore[override]
        tls = super().wrap_socket(*args, **kwargs)
        certificate = tls.getpeercert(binary_form=True) or b""
        if _digest(certificate, self.pin) != self.pin:
            tls.close()
            raise ThumbprintMismatch(certificate)
        return tls


def _digest(certificate: bytes, like: str) -> str:
    return hashlib.new(ALGORITHMS[len(like)], certificate).hexdigest()


def thumbprint(certificate: bytes, algorithm: str = "sha1") -> str:
    """``AA:BB:...``, as vCenter, govc and CAPV write it."""
    digest = hashlib.new(algorithm, certificate).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _mismatch(where: str, pin: str, certificate: bytes) -> ProviderError:
    algorithm = ALGORITHMS[len(pin)]
    pinned = ":".join(pin[i : i + 2] for i in range(0, len(pin), 2)).upper()
    return ProviderError(
        f"{where} presents a certificate whose {algorithm.upper().replace('SHA', 'SHA-')} thumbprint is {thumbprint(certificate, algorithm)}, "
        f"not vsphere.thumbprint {pinned}; nothing was sent to it. If vCenter's certificate was replaced, confirm the new thumbprint "
        "with its administrator and set vsphere.thumbprint to it (CAPV pins the same value)"
    )


def _scrub(text: str, password: str) -> str:
    return text.replace(password, "<redacted>") if password else text


@contextlib.contextmanager
def vsphere_errors(cluster: ClusterSpec) -> Iterator[None]:
    """Turn what pyVmomi raises during ``prepare``'s calls into a ProviderError a user can act on."""
    from pyVmomi import vim, vmodl

    where = f"cluster {cluster.name}: vCenter {cluster.provider_config.server}"
    try:
        yield
    except vim.fault.NoPermission as fault:
        on = fault.object._moId if getattr(fault, "object", None) is not None else "an object"
        raise ProviderError(
            f"{where} denied the privilege {fault.privilegeId} on {on} to the user prepare logs in as; "
            "grant it (the vSphere plugin's README lists what prepare needs)"
        ) from None
    except vim.fault.NotAuthenticated:
        raise ProviderError(f"{where}: the session ended (vCenter's idle timeout, or a logout); run prepare again") from None
    except vmodl.MethodFault as fault:
        raise ProviderError(f"{where} answered {type(fault).__name__.rsplit('.', 1)[-1]}: {fault.msg}") from None
    except ThumbprintMismatch as exc:
        pin = cluster.provider_config.thumbprint.replace(":", "").lower()
        raise _mismatch(where, pin, exc.certificate) from None
    except (OSError, http.client.HTTPException) as exc:
        raise ProviderError(f"{where}: the connection failed ({exc}); run prepare again") from None
