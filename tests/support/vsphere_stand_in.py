"""vCenter on loopback for the vSphere provider's tests: a vim25 SOAP responder
over HTTPS that answers pyVmomi from an in-memory inventory.

Its answers have the shape of the recorded vCenter 8.0 sessions in
``shared/reference/vsphere-recordings`` (``GET /sdk/vimServiceVersions.xml``,
``RetrieveServiceContent``, ``Login`` and its ``InvalidLogin`` fault, container
views, ``Fetch``); ``plugins/vsphere/tests/test_stand_in.py`` replays those
recordings against it. The calls the recordings do not show
(``RetrievePropertiesEx`` and its paging, ``CreateFolder``,
``CreateResourcePool``, ``FindByUuid``, ``Logout``) follow the vSphere Web
Services API reference. A method it does not know is answered with a
``NotSupported`` fault, so nothing is accepted silently::

    inventory = Inventory()
    dc = inventory.datacenter("dc1")
    inventory.datastore(dc, "vsanDatastore")
    inventory.vm(dc.vm, "ubuntu-2404-kube-v1.33.1", template=True)
    vcenter = VCenterStandIn(inventory, users={"admin@vsphere.local": "s3cret"})
    vcenter.server            # 127.0.0.1:PORT, for vsphere.server
    vcenter.ca_file, vcenter.thumbprint
    vcenter.calls             # ['RetrieveServiceContent', 'Login', ...], in order
    vcenter.mutating()        # ['CreateFolder', ...]
    vcenter.denied["CreateFolder"] = "Folder.Create"   # answer with NoPermission
    vcenter.pacing.latency = 0.01                      # per request (loopback.Pacing)
    hold = vcenter.pacing.hold_at(2, forward=True)     # the 2nd mutating call: made, never answered
    hold.reached.wait(); ...; hold.release()           # (forward=False: not made, not in .calls)
    vcenter.close()
"""

from __future__ import annotations

import datetime
import html
import http.server
import itertools
import re
import threading
import uuid
import xml.etree.ElementTree as ET
from typing import Any, Callable, Iterable, Optional

import attrs
from loopback import Hold, LoopbackServer, Pacing

SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
VIM = "urn:vim25"
API_VERSION = "8.0.3.0"
PRIOR_VERSIONS = ("8.0.2.0", "8.0.1.0", "8.0.0.0", "7.0.3.0", "7.0.2.0", "7.0.1.0", "7.0.0.0", "6.7.3", "6.7", "6.5", "6.0")
MUTATING = frozenset({"CreateFolder", "CreateResourcePool"})
# The example vCenter's user (see example_inventory).
USER = "administrator@vsphere.local"
PASSWORD = "Vm-Pa55w0rd-never-shown"
INVALID_LOGIN = "Cannot complete login due to an incorrect user name or password."
_NOT_AN_ESCAPE = re.compile(r"%(?!2[fF5]|5[cC])")

# Each managed entity type and the one it extends: the property collector and
# container views match a type's subtypes too.
SUPERTYPE = {
    "Folder": "ManagedEntity",
    "StoragePod": "Folder",
    "Datacenter": "ManagedEntity",
    "Datastore": "ManagedEntity",
    "Network": "ManagedEntity",
    "DistributedVirtualPortgroup": "Network",
    "OpaqueNetwork": "Network",
    "ComputeResource": "ManagedEntity",
    "ClusterComputeResource": "ComputeResource",
    "ResourcePool": "ManagedEntity",
    "VirtualApp": "ResourcePool",
    "VirtualMachine": "ManagedEntity",
}
MOID_PREFIX = {
    "Folder": "group-v",
    "Datacenter": "datacenter-",
    "Datastore": "datastore-",
    "Network": "network-",
    "DistributedVirtualPortgroup": "dvportgroup-",
    "ClusterComputeResource": "domain-c",
    "ComputeResource": "domain-s",
    "ResourcePool": "resgroup-",
    "VirtualMachine": "vm-",
}
# ServiceContent's managers, in the order vCenter 8.0 lists them, each with
# the API version it came with: vCenter leaves out what the client's version
# does not know (the recordings at API 5.5 and 8.0.2 differ so).
MANAGERS = (
    ("rootFolder", "Folder", "group-d1", ()),
    ("propertyCollector", "PropertyCollector", "propertyCollector", ()),
    ("viewManager", "ViewManager", "ViewManager", ()),
    ("about", None, None, ()),
    ("setting", "OptionManager", "VpxSettings", ()),
    ("userDirectory", "UserDirectory", "UserDirectory", ()),
    ("sessionManager", "SessionManager", "SessionManager", ()),
    ("authorizationManager", "AuthorizationManager", "AuthorizationManager", ()),
    ("serviceManager", "ServiceManager", "ServiceMgr", (5, 1)),
    ("perfManager", "PerformanceManager", "PerfMgr", ()),
    ("scheduledTaskManager", "ScheduledTaskManager", "ScheduledTaskManager", ()),
    ("alarmManager", "AlarmManager", "AlarmManager", ()),
    ("eventManager", "EventManager", "EventManager", ()),
    ("taskManager", "TaskManager", "TaskManager", ()),
    ("extensionManager", "ExtensionManager", "ExtensionManager", ()),
    ("customizationSpecManager", "CustomizationSpecManager", "CustomizationSpecManager", ()),
    ("guestCustomizationManager", "VirtualMachineGuestCustomizationManager", "GuestCustomizationManager", (6, 8, 7)),
    ("customFieldsManager", "CustomFieldsManager", "CustomFieldsManager", ()),
    ("diagnosticManager", "DiagnosticManager", "DiagMgr", ()),
    ("licenseManager", "LicenseManager", "LicenseManager", ()),
    ("searchIndex", "SearchIndex", "SearchIndex", ()),
    ("fileManager", "FileManager", "FileManager", ()),
    ("datastoreNamespaceManager", "DatastoreNamespaceManager", "DatastoreNamespaceManager", (5, 5)),
    ("virtualDiskManager", "VirtualDiskManager", "virtualDiskManager", ()),
    ("snmpSystem", "HostSnmpSystem", "SnmpSystem", (4, 0)),
    ("vmProvisioningChecker", "VirtualMachineProvisioningChecker", "ProvChecker", (4, 0)),
    ("vmCompatibilityChecker", "VirtualMachineCompatibilityChecker", "CompatChecker", (4, 0)),
    ("ovfManager", "OvfManager", "OvfManager", (4, 0)),
    ("ipPoolManager", "IpPoolManager", "IpPoolManager", (4, 0)),
    ("dvSwitchManager", "DistributedVirtualSwitchManager", "DVSManager", (4, 0)),
    ("hostProfileManager", "HostProfileManager", "HostProfileManager", (4, 0)),
    ("clusterProfileManager", "ClusterProfileManager", "ClusterProfileManager", (4, 0)),
    ("complianceManager", "ProfileComplianceManager", "MoComplianceManager", (4, 0)),
    ("localizationManager", "LocalizationManager", "LocalizationManager", (4, 0)),
    ("storageResourceManager", "StorageResourceManager", "StorageResourceManager", (4, 1)),
    ("guestOperationsManager", "GuestOperationsManager", "guestOperationsManager", (5, 0)),
    ("overheadMemoryManager", "OverheadMemoryManager", "OverheadMemoryManager", (6, 0)),
    ("certificateManager", "CertificateManager", "certificateManager", (6, 0)),
    ("ioFilterManager", "IoFilterManager", "IoFilterManager", (6, 0)),
    ("vStorageObjectManager", "VcenterVStorageObjectManager", "VStorageObjectManager", (6, 5)),
    ("hostSpecManager", "HostSpecificationManager", "HostSpecificationManager", (6, 5)),
    ("cryptoManager", "CryptoManagerKmip", "CryptoManager", (6, 5)),
    ("healthUpdateManager", "HealthUpdateManager", "HealthUpdateManager", (6, 5)),
    ("failoverClusterConfigurator", "FailoverClusterConfigurator", "FailoverClusterConfigurator", (6, 5)),
    ("failoverClusterManager", "FailoverClusterManager", "FailoverClusterManager", (6, 5)),
    ("tenantManager", "TenantTenantManager", "TenantManager", (6, 9, 1)),
    ("siteInfoManager", "SiteInfoManager", "SiteInfoManager", (7, 0)),
    ("storageQueryManager", "StorageQueryManager", "StorageQueryManager", (6, 7, 2)),
)
ABOUT = (
    ("name", "VMware vCenter Server"),
    ("fullName", "VMware vCenter Server 8.0.3 build-24022515 (stand-in)"),
    ("vendor", "VMware, Inc."),
    ("version", "8.0.3"),
    ("patchLevel", "00000"),  # since API 7.0.2: left out for older clients, as vCenter does
    ("build", "24022515"),
    ("localeVersion", "INTL"),
    ("localeBuild", "000"),
    ("osType", "linux-x64"),
    ("productLineId", "vpx"),
    ("apiType", "VirtualCenter"),
    ("apiVersion", API_VERSION),
    ("instanceUuid", "0d7f2a4e-5b1c-4c4e-9a57-3c1f0e6b2a10"),
    ("licenseProductName", "VMware VirtualCenter Server"),
    ("licenseProductVersion", "8.0"),
)


def is_a(kind: str, wanted: str) -> bool:
    while kind:
        if kind == wanted:
            return True
        kind = SUPERTYPE.get(kind, "")
    return False


# -- the inventory -------------------------------------------------------------------


@attrs.define
class Entity:
    moid: str
    type: str
    name: str
    parent: Optional[str]
    template: bool = False
    annotation: str = ""
    vapp: dict[str, str] = attrs.field(factory=dict)  # vApp property id -> value
    instance_uuid: str = ""
    spec: Optional[dict[str, Any]] = None  # a resource pool's allocation, as CreateResourcePool got it


@attrs.frozen
class Datacenter:
    moid: str
    vm: str
    host: str
    datastore: str
    network: str


class Inventory:
    """Datacenters, folders, clusters and pools, datastores, networks, VMs and templates."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entities: dict[str, Entity] = {"group-d1": Entity("group-d1", "Folder", "Datacenters", None)}
        self._ids = itertools.count(2)

    def add(self, kind: str, name: str, parent: str, **fields: Any) -> Entity:
        """An entity named ``name`` as vCenter keeps it: escaped (``a/b`` is ``a%2fb``)."""
        entity = Entity(f"{MOID_PREFIX.get(kind, kind.lower() + '-')}{next(self._ids)}", kind, vcenter_name(name), parent, **fields)
        self.entities[entity.moid] = entity
        return entity

    def datacenter(self, name: str, parent: str = "group-d1") -> Datacenter:
        dc = self.add("Datacenter", name, parent)
        folders = {role: self.add("Folder", role, dc.moid).moid for role in ("vm", "host", "datastore", "network")}
        return Datacenter(moid=dc.moid, **folders)

    def existing_datacenter(self, path: str) -> Datacenter:
        dc = self.at(path)
        assert dc is not None and dc.type == "Datacenter", path
        roles = {e.name: e.moid for e in self.children(dc.moid) if e.type == "Folder"}
        return Datacenter(moid=dc.moid, vm=roles["vm"], host=roles["host"], datastore=roles["datastore"], network=roles["network"])

    def folder(self, parent: str, name: str) -> str:
        return self.add("Folder", name, parent).moid

    def cluster(self, dc: Datacenter, name: str, parent: Optional[str] = None) -> str:
        """A vSphere cluster and its root resource pool; returns the pool's id."""
        cluster = self.add("ClusterComputeResource", name, parent or dc.host)
        return self.add("ResourcePool", "Resources", cluster.moid).moid

    def pool(self, parent: str, name: str) -> str:
        return self.add("ResourcePool", name, parent).moid

    def datastore(self, dc: Datacenter, name: str) -> str:
        return self.add("Datastore", name, dc.datastore).moid

    def network(self, dc: Datacenter, name: str, kind: str = "DistributedVirtualPortgroup") -> str:
        return self.add(kind, name, dc.network).moid

    def vm(self, folder: str, name: str, *, template: bool = True, annotation: str = "", vapp: Optional[dict[str, str]] = None) -> str:
        return self.add("VirtualMachine", name, folder, template=template, annotation=annotation, vapp=dict(vapp or {}), instance_uuid=str(uuid.uuid4())).moid

    def path(self, moid: str) -> str:
        """The inventory path, as govc prints it (``/dc1/vm/templates/ubuntu``)."""
        names = []
        entity: Optional[Entity] = self.entities[moid]
        while entity is not None and entity.parent is not None:
            names.append(entity.name)
            entity = self.entities.get(entity.parent)
        return "/" + "/".join(reversed(names))

    def at(self, path: str) -> Optional[Entity]:
        return next((e for e in self.entities.values() if e.parent is not None and self.path(e.moid) == path), None)

    def children(self, moid: str) -> list[Entity]:
        return [e for e in self.entities.values() if e.parent == moid]

    def below(self, moid: str) -> Iterable[Entity]:
        for child in self.children(moid):
            yield child
            yield from self.below(child.moid)

    def paths(self, kind: str) -> list[str]:
        return sorted(self.path(e.moid) for e in self.entities.values() if is_a(e.type, kind) and e.parent is not None)


def vcenter_name(name: str) -> str:
    """A name as vCenter stores and returns it: ``/`` and ``\\`` escaped, and a ``%``
    that does not start an escape already (vSphere API, ``ManagedEntity.name``)."""
    return _NOT_AN_ESCAPE.sub("%25", name).replace("/", "%2f").replace("\\", "%5c")


def example_inventory() -> Inventory:
    """A vCenter with one datacenter, one cluster, two datastores, two networks,
    and image-builder templates of two Kubernetes versions next to a plain VM."""
    inventory = Inventory()
    dc = inventory.datacenter("dc1")
    inventory.cluster(dc, "cluster1")
    inventory.datastore(dc, "vsanDatastore")
    inventory.datastore(dc, "nfs-01")
    inventory.network(dc, "k8s-nodes")
    inventory.network(dc, "VM Network", kind="Network")
    templates = inventory.folder(dc.vm, "templates")
    image = "Cluster API vSphere image - Ubuntu 24.04 and Kubernetes {} - https://github.com/kubernetes-sigs/image-builder"
    for version in ("v1.33.1", "v1.32.5"):
        properties = {"DISTRO_NAME": "ubuntu", "KUBERNETES_SEMVER": version, "IMAGE_BUILDER_VERSION": "v0.1.44"}
        inventory.vm(templates, f"ubuntu-2404-kube-{version}", annotation=image.format(version), vapp=properties)
    inventory.vm(dc.vm, "jumpbox", template=False)
    return inventory


# -- the server ------------------------------------------------------------------------


class Fault(Exception):
    def __init__(self, kind: str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.kind, self.message, self.detail = kind, message, detail


class VCenterStandIn:
    """A vCenter on 127.0.0.1 over HTTPS (certificate from a throwaway CA)."""

    def __init__(self, inventory: Optional[Inventory] = None, users: Optional[dict[str, str]] = None, page_size: int = 100) -> None:
        self.inventory = inventory or Inventory()
        self.users = dict(users or {})
        self.page_size = self._page_size = page_size  # RetrievePropertiesEx answers at most this many objects, then a token
        self.denied: dict[str, str] = {}  # method -> the privilege the user lacks for it (a NoPermission fault)
        self.calls: list[str] = []
        self.sessions: dict[str, str] = {}  # cookie -> user name
        self.logouts = 0
        self._views: dict[str, tuple[str, tuple[str, ...], bool]] = {}
        self._pages: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._request = threading.local()  # what the request being answered (one per server thread) asked for
        self.pacing = Pacing()
        self._http = LoopbackServer(_Handler, tls=True, state=self)

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self._http.port}"

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def ca_file(self) -> str:
        assert self._http.ca_file
        return self._http.ca_file

    @property
    def thumbprint(self) -> str:
        assert self._http.thumbprint
        return self._http.thumbprint

    def reset(self, inventory: Inventory) -> None:
        with self._lock:
            self.inventory = inventory
            self.sessions.clear()
            self._views.clear()
            self._pages.clear()
            self.calls.clear()
            self.denied.clear()
            self.logouts = 0
            self.page_size = self._page_size
        self.pacing.reset()

    def clear_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    def mutating(self) -> list[str]:
        return [call for call in self.calls if call in MUTATING]

    def reads(self) -> list[str]:
        return [call for call in self.calls if call not in MUTATING]

    def close(self) -> None:
        self._http.close()

    # -- one SOAP call ---------------------------------------------------------------

    def call(self, body: bytes, cookie: str, client: str, agent: str, action: str = "") -> tuple[int, str, Optional[str]]:
        """``(status, response body, Set-Cookie)`` for one request to /sdk; ``action``
        is the SOAPAction header, which names the API version the client speaks."""
        self._request.version = _version(action.strip('"').rpartition("/")[2] or API_VERSION)
        request = ET.fromstring(body).find(f"{{{SOAPENV}}}Body")
        assert request is not None and len(request), "a SOAP envelope with a Body"
        call = request[0]
        method = _local(call.tag)
        this = call.find(f"{{{VIM}}}_this")
        with self._lock:
            self.calls.append(method)
        user = self.sessions.get(_session_cookie(cookie))
        set_cookie = None
        try:
            if method == "RetrieveServiceContent":
                returnval: Optional[str] = _service_content("", self._request.version)
            elif method == "Login":
                key = uuid.uuid4().hex
                returnval = self._login(call, key, client, agent)
                set_cookie = f'vmware_soap_session="{key}"; Path=/; HttpOnly; Secure;'
            elif user is None:
                raise Fault("NotAuthenticated", "The session is not authenticated.", _moref("object", this) + "<privilegeId>System.View</privilegeId>")
            else:
                if method in self.denied:
                    detail = _moref("object", this) + f"<privilegeId>{self.denied[method]}</privilegeId>"
                    raise Fault("NoPermission", "Permission to perform this operation was denied.", detail)
                handler: Optional[Callable[..., Optional[str]]] = getattr(self, f"_{method}", None)
                if handler is None:
                    raise Fault("NotSupported", f"The operation {method} is not supported by the stand-in.")
                with self.inventory.lock:
                    returnval = handler(call, this, user, _session_cookie(cookie))
        except Fault as fault:
            return 500, _fault(fault), None
        return 200, _envelope(f'<{method}Response xmlns="{VIM}">{returnval or ""}</{method}Response>'), set_cookie

    def _login(self, call: ET.Element, key: str, client: str, agent: str) -> str:
        user, password = _text(call, "userName"), _text(call, "password")
        if user is None or self.users.get(user) != password:
            raise Fault("InvalidLogin", INVALID_LOGIN)
        self.sessions[key] = user
        return _user_session("returnval", key, user, client, agent)

    def _Logout(self, call: ET.Element, this: ET.Element, user: str, session: str) -> None:
        self.sessions.pop(session, None)
        self.logouts += 1

    def _Fetch(self, call: ET.Element, this: ET.Element, user: str, session: str) -> Optional[str]:
        """pyVmomi reads one property of a managed object this way (``si.content``, ``view.view``)."""
        prop, kind = _text(call, "prop"), this.get("type")
        if (kind, prop) == ("ServiceInstance", "content"):
            return _service_content('xsi:type="ServiceContent"', self._request.version)
        if (kind, prop) == ("SessionManager", "currentSession"):
            return _user_session('returnval xsi:type="UserSession"', session, user, "127.0.0.1", "")
        if kind == "ContainerView" and prop == "view":
            refs = "".join(f'<ManagedObjectReference type="{e.type}" xsi:type="ManagedObjectReference">{e.moid}</ManagedObjectReference>' for e in self._view(this.text or ""))
            return f'<returnval xsi:type="ArrayOfManagedObjectReference">{refs}</returnval>'
        return self._value("returnval", self._entity(this), prop or "")

    def _CreateContainerView(self, call: ET.Element, this: ET.Element, user: str, session: str) -> str:
        container = self._entity(call.find(f"{{{VIM}}}container"))
        types = tuple(e.text or "" for e in call.findall(f"{{{VIM}}}type"))
        moid = f"session[{session[:8]}]{uuid.uuid4()}"
        self._views[moid] = (container.moid, types, _text(call, "recursive") == "true")
        return f'<returnval type="ContainerView">{moid}</returnval>'

    def _DestroyView(self, call: ET.Element, this: ET.Element, user: str, session: str) -> None:
        self._views.pop(this.text or "", None)

    def _view(self, moid: str) -> list[Entity]:
        if moid not in self._views:
            raise _not_found("ContainerView", moid)
        container, types, recursive = self._views[moid]
        found = self.inventory.below(container) if recursive else self.inventory.children(container)
        return [e for e in found if not types or any(is_a(e.type, t) for t in types)]

    def _RetrievePropertiesEx(self, call: ET.Element, this: ET.Element, user: str, session: str) -> Optional[str]:
        objects = [content for spec in call.findall(f"{{{VIM}}}specSet") for content in self._filter(spec)]
        asked = _text(call.find(f"{{{VIM}}}options"), "maxObjects")
        return self._page(objects, min(int(asked), self.page_size) if asked else self.page_size)

    def _ContinueRetrievePropertiesEx(self, call: ET.Element, this: ET.Element, user: str, session: str) -> Optional[str]:
        token = _text(call, "token") or ""
        if token not in self._pages:
            raise Fault("InvalidArgument", "A specified parameter was not correct: token", "<invalidProperty>token</invalidProperty>")
        return self._page(self._pages.pop(token), self.page_size)

    def _page(self, objects: list[str], limit: int) -> Optional[str]:
        if not objects:
            return None  # vCenter leaves the result out when nothing matched
        head, rest = objects[:limit], objects[limit:]
        token = ""
        if rest:
            token = uuid.uuid4().hex
            self._pages[token] = rest
            token = f"<token>{token}</token>"
        return f"<returnval>{token}{''.join(head)}</returnval>"

    def _filter(self, spec: ET.Element) -> list[str]:
        """ObjectContent elements for one FilterSpec: the objects its ObjectSpecs
        reach, each with the properties the PropertySpecs of its type ask for."""
        named = {_text(s, "name") or "": s for s in spec.iter(f"{{{VIM}}}selectSet") if _xsi_type(s) == "TraversalSpec"}
        reached: dict[str, Entity] = {}
        for object_spec in spec.findall(f"{{{VIM}}}objectSet"):
            start = object_spec.find(f"{{{VIM}}}obj")
            assert start is not None
            if start.get("type") != "ContainerView" and _text(object_spec, "skip") != "true":
                entity = self._entity(start)
                reached[entity.moid] = entity
            self._traverse(start.get("type") or "", start.text or "", object_spec.findall(f"{{{VIM}}}selectSet"), named, reached)
        property_specs = spec.findall(f"{{{VIM}}}propSet")
        answers = []
        for entity in reached.values():
            wanted = [p for p in property_specs if is_a(entity.type, _text(p, "type") or "")]
            if not wanted:
                continue
            paths: dict[str, None] = {}
            for p in wanted:
                every = _text(p, "all") == "true"
                paths.update(dict.fromkeys(["name", "parent"] if every else [e.text or "" for e in p.findall(f"{{{VIM}}}pathSet")]))
            values = [self._value("val", entity, path) for path in paths]
            props = "".join(f"<propSet><name>{path}</name>{value}</propSet>" for path, value in zip(paths, values) if value is not None)
            answers.append(f'<objects><obj type="{entity.type}">{entity.moid}</obj>{props}</objects>')
        return answers

    def _traverse(self, kind: str, moid: str, selections: list[ET.Element], named: dict[str, ET.Element], reached: dict[str, Entity]) -> None:
        for selection in selections:
            traversal = selection if _xsi_type(selection) == "TraversalSpec" else named.get(_text(selection, "name") or "")
            if traversal is None or not is_a(kind, _text(traversal, "type") or ""):
                continue
            path = _text(traversal, "path")
            if path == "view":
                targets = self._view(moid)
            elif path == "childEntity":
                targets = self.inventory.children(moid)
            else:
                raise Fault("InvalidProperty", f"The stand-in does not traverse {path!r}.", f"<name>{path}</name>")
            for target in targets:
                if _text(traversal, "skip") != "true":
                    reached[target.moid] = target
                self._traverse(target.type, target.moid, traversal.findall(f"{{{VIM}}}selectSet"), named, reached)

    def _value(self, tag: str, entity: Entity, path: str) -> Optional[str]:
        """``<tag xsi:type=...>`` holding a property of ``entity``, or None when it is unset."""
        if path == "name":
            return f'<{tag} xsi:type="xsd:string">{html.escape(entity.name)}</{tag}>'
        if path == "parent":
            if entity.parent is None:
                return None
            parent = self.inventory.entities[entity.parent]
            return f'<{tag} type="{parent.type}" xsi:type="ManagedObjectReference">{parent.moid}</{tag}>'
        if entity.type == "VirtualMachine":
            if path == "config.template":
                return f'<{tag} xsi:type="xsd:boolean">{"true" if entity.template else "false"}</{tag}>'
            if path == "config.annotation":
                return f'<{tag} xsi:type="xsd:string">{html.escape(entity.annotation)}</{tag}>' if entity.annotation else None
            if path == "config.vAppConfig.property":
                if not entity.vapp:
                    return None
                items = "".join(_vapp_property(i, key, value) for i, (key, value) in enumerate(entity.vapp.items()))
                return f'<{tag} xsi:type="ArrayOfVAppPropertyInfo">{items}</{tag}>'
        raise Fault("InvalidProperty", "A specified parameter was not correct: pathSet", f"<name>{html.escape(path)}</name>")

    def _CreateFolder(self, call: ET.Element, this: ET.Element, user: str, session: str) -> str:
        parent = self._entity(this)
        name = vcenter_name(_text(call, "name") or "")
        self._no_duplicate(parent, name)
        folder = self.inventory.add("Folder", name, parent.moid)
        return f'<returnval type="Folder">{folder.moid}</returnval>'

    def _CreateResourcePool(self, call: ET.Element, this: ET.Element, user: str, session: str) -> str:
        parent = self._entity(this)
        name = vcenter_name(_text(call, "name") or "")
        spec = call.find(f"{{{VIM}}}spec")
        allocation = {}
        for kind in ("cpuAllocation", "memoryAllocation"):
            info = spec.find(f"{{{VIM}}}{kind}") if spec is not None else None
            allocation[kind] = {field: _text(info, field) for field in ("reservation", "expandableReservation", "limit")}
            allocation[kind]["shares"] = _text(info.find(f"{{{VIM}}}shares") if info is not None else None, "level")
        self._no_duplicate(parent, name)
        pool = self.inventory.add("ResourcePool", name, parent.moid, spec=allocation)
        return f'<returnval type="ResourcePool">{pool.moid}</returnval>'

    def _no_duplicate(self, parent: Entity, name: str) -> None:
        taken = next((e for e in self.inventory.children(parent.moid) if e.name == name), None)
        if taken is not None:
            detail = f'<name>{html.escape(name)}</name><object type="{taken.type}">{taken.moid}</object>'
            raise Fault("DuplicateName", f"The name '{name}' already exists.", detail)

    def _FindByUuid(self, call: ET.Element, this: ET.Element, user: str, session: str) -> Optional[str]:
        wanted = (_text(call, "uuid") or "").lower()
        datacenter = call.find(f"{{{VIM}}}datacenter")
        scope = self.inventory.below(datacenter.text or "") if datacenter is not None else self.inventory.entities.values()
        found = next((e for e in scope if e.type == "VirtualMachine" and e.instance_uuid == wanted), None)
        return f'<returnval type="VirtualMachine">{found.moid}</returnval>' if found else None

    def _entity(self, reference: Optional[ET.Element]) -> Entity:
        kind = reference.get("type") or "" if reference is not None else ""
        moid = reference.text or "" if reference is not None else ""
        entity = self.inventory.entities.get(moid)
        if entity is None or not is_a(entity.type, kind):
            raise _not_found(kind, moid)
        return entity


def _not_found(kind: str, moid: str) -> Fault:
    return Fault(
        "ManagedObjectNotFound",
        f"The object 'vim.{kind}:{moid}' has already been deleted or has not been completely created",
        f'<obj type="{kind}">{moid}</obj>',
    )


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: pyVmomi reuses its connections
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: Any

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self.server.state.pacing.before(mutating=False, what=f"GET {self.path}")
        if self.path != "/sdk/vimServiceVersions.xml":
            self._answer(404, "text/plain", "not found")
            return
        prior = "".join(f"<version>{v}</version>" for v in PRIOR_VERSIONS)
        body = (
            '<?xml version="1.0" encoding="UTF-8" ?><namespaces version="1.0"><namespace><name>urn:vim25</name>'
            f"<version>{API_VERSION}</version><priorVersions>{prior}</priorVersions></namespace></namespaces>"
        )
        self._answer(200, "text/xml; charset=utf-8", body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        vcenter: VCenterStandIn = self.server.state
        method, what = _described(body) if self.path == "/sdk" else ("", f"POST {self.path}")
        hold = vcenter.pacing.before(mutating=method in MUTATING, what=what)
        if self.path != "/sdk":
            self._answer(404, "text/plain", "not found")
            return
        if hold is not None and not hold.forward:
            self._hold(hold)  # vCenter never got it
            return
        status, text, cookie = vcenter.call(
            body, self.headers.get("Cookie") or "", self.client_address[0], self.headers.get("User-Agent") or "", self.headers.get("SOAPAction") or ""
        )
        if hold is not None:
            self._hold(hold)  # vCenter did it; the answer is lost
            return
        self._answer(status, "text/xml; charset=utf-8", text, cookie)

    def _hold(self, hold: Hold) -> None:
        hold.wait_here()
        self.close_connection = True

    def _answer(self, status: int, content_type: str, text: str, cookie: Optional[str] = None) -> None:
        data = text.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-cache")
            if cookie:
                self.send_header("Set-Cookie", cookie)
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client is gone (killed on purpose)
            self.close_connection = True


# -- XML -----------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(element: Optional[ET.Element], name: str) -> Optional[str]:
    child = element.find(f"{{{VIM}}}{name}") if element is not None else None
    return child.text if child is not None else None


def _described(body: bytes) -> tuple[str, str]:
    """The SOAP method of a request and a label for it (``CreateFolder acme-dev``)."""
    try:
        request = ET.fromstring(body).find(f"{{{SOAPENV}}}Body")
    except ET.ParseError:
        return "", "POST /sdk"
    if request is None or not len(request):
        return "", "POST /sdk"
    method = _local(request[0].tag)
    name = _text(request[0], "name")
    return method, f"{method} {name}" if name else method


def _xsi_type(element: ET.Element) -> str:
    return (element.get(f"{{{XSI}}}type") or "").rsplit(":", 1)[-1]


def _session_cookie(header: str) -> str:
    match = re.search(r'vmware_soap_session="?([^";]+)', header)
    return match.group(1) if match else ""


def _moref(tag: str, reference: Optional[ET.Element]) -> str:
    if reference is None:
        return ""
    return f'<{tag} type="{reference.get("type")}">{reference.text}</{tag}>'


def _vapp_property(index: int, key: str, value: str) -> str:
    return (
        f"<VAppPropertyInfo><key>{index}</key><classId></classId><instanceId></instanceId><id>{html.escape(key)}</id>"
        "<category></category><label></label><type>string</type><userConfigurable>false</userConfigurable>"
        f"<defaultValue>{html.escape(value)}</defaultValue><value></value><description></description></VAppPropertyInfo>"
    )


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def _service_content(xsi_type: str, client_version: tuple[int, ...]) -> str:
    parts = []
    for element, kind, moid, since in MANAGERS:
        if client_version < since:
            continue
        if element == "about":
            about = [(k, v) for k, v in ABOUT if k != "patchLevel" or client_version >= (7, 0, 2)]
            parts.append("<about>" + "".join(f"<{k}>{html.escape(v)}</{k}>" for k, v in about) + "</about>")
        else:
            parts.append(f'<{element} type="{kind}">{moid}</{element}>')
    opening = f"returnval {xsi_type}".strip()
    return f"<{opening}>" + "".join(parts) + "</returnval>"


def _user_session(opening: str, key: str, user: str, client: str, agent: str) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fields = (
        ("key", key),
        ("userName", user),
        ("fullName", user),
        ("loginTime", now),
        ("lastActiveTime", now),
        ("locale", "en"),
        ("messageLocale", "en"),
        ("extensionSession", "false"),
        ("ipAddress", client),
        ("userAgent", agent),
        ("callCount", "0"),
    )
    return f"<{opening}>" + "".join(f"<{k}>{html.escape(v)}</{k}>" for k, v in fields) + "</returnval>"


def _envelope(body: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/"\n xmlns:soapenv="{SOAPENV}"\n'
        f' xmlns:xsd="http://www.w3.org/2001/XMLSchema"\n xmlns:xsi="{XSI}">\n<soapenv:Body>\n{body}\n</soapenv:Body>\n</soapenv:Envelope>'
    )


def _fault(fault: Fault) -> str:
    return _envelope(
        f"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>{html.escape(fault.message)}</faultstring>"
        f'<detail><{fault.kind}Fault xmlns="{VIM}" xsi:type="{fault.kind}">{fault.detail}</{fault.kind}Fault></detail></soapenv:Fault>'
    )
