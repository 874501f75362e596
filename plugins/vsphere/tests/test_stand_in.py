"""The vCenter stand-in answers as the recorded vCenter 8.0 sessions did.

The recordings (vcrpy cassettes of pyVmomi against a real vCenter, in
``shared/reference/vsphere-recordings``) are replayed against the stand-in:
each request it implements is sent as recorded, and its answer must have the
recorded answer's shape: the same status, the same elements in the same order
with the same attributes and types; only values (ids, names, times) differ.
"""

from __future__ import annotations

import http.client
import re
import ssl
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from vsphere_stand_in import PASSWORD, USER, VCenterStandIn

# Sessions with a vCenter 8.0 (basic_connection_bad_password's is a 6.0: only its fault is compared, below).
RECORDINGS = ("basic_connection", "basic_container_view", "root_folder_parent", "smart_connection")
VIEW_ID = re.compile(r"session\[[^\]]*\][0-9a-f-]+")
# What prepare's calls read, and the recordings ask too; the others (a datacenter's datastores...) are not served.
SERVED_FETCHES = {"content", "currentSession", "view", "parent", "name"}


class _Loader(yaml.SafeLoader):
    """The oldest cassettes tag their strings as Python 2 unicode."""


_Loader.add_constructor("tag:yaml.org,2002:python/unicode", lambda loader, node: loader.construct_scalar(node))


def interactions(shared_folder: Path, name: str) -> list[dict[str, Any]]:
    path = shared_folder / "reference" / "vsphere-recordings" / f"{name}.yaml"
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)["interactions"]


def shape(text: str) -> Any:
    """An XML document without its values: tags, attribute names, and the
    values of the attributes that say what something is (``type``, ``xsi:type``)."""

    def of(element: ET.Element) -> tuple:
        kinds = {k: v for k, v in element.attrib.items() if k == "type" or k.endswith("}type")}
        children = [of(child) for child in element]
        # How many items a list has is a value too (the API versions a server knows).
        children = [c for i, c in enumerate(children) if i == 0 or c != children[i - 1]]
        return (element.tag, tuple(sorted(element.attrib)), tuple(sorted(kinds.items())), tuple(children))

    return of(ET.fromstring(text.encode()))


def method_of(body: str) -> tuple[str, str]:
    call = ET.fromstring(body.encode()).find("{http://schemas.xmlsoap.org/soap/envelope/}Body")[0]
    prop = call.find("{urn:vim25}prop")
    return call.tag.rsplit("}", 1)[-1], prop.text if prop is not None else ""


class Replay:
    """Sends recorded requests to the stand-in, as the recorded client did (cookie included)."""

    def __init__(self, vcenter: VCenterStandIn) -> None:
        self.vcenter = vcenter
        self.context = ssl.create_default_context(cafile=vcenter.ca_file)
        self.cookie = ""
        self.view = ""

    def send(self, request: dict[str, Any]) -> tuple[int, str, str]:
        connection = http.client.HTTPSConnection("127.0.0.1", self.vcenter.port, context=self.context, timeout=10)
        try:
            path = request["uri"].split("/", 3)[3]
            body = self._ours(request.get("body") or "")
            headers = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": request["headers"].get("SOAPAction", [""])[0], "Cookie": self.cookie}
            connection.request(request["method"], "/" + path, body=body.encode() if body else None, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
            cookie = response.getheader("Set-Cookie") or ""
        finally:
            connection.close()
        if cookie and response.status == 200:
            self.cookie = cookie
        found = VIEW_ID.search(text)
        if found:
            self.view = found.group(0)
        return response.status, text, cookie

    def _ours(self, body: str) -> str:
        """The recorded request, with the stand-in's user, password and view id."""
        body = re.sub(r"(<userName[^>]*>)my_user<", rf"\g<1>{USER}<", body)
        body = re.sub(r"(<password[^>]*>)my_pass(word)?<", rf"\g<1>{PASSWORD}<", body)
        return VIEW_ID.sub(self.view, body) if self.view else body


@pytest.mark.parametrize("recording", RECORDINGS)
def test_the_stand_in_answers_with_the_shape_of_the_recorded_vcenter(shared_folder, vcenter, recording):
    replay = Replay(vcenter)
    replayed = 0
    for interaction in interactions(shared_folder, recording):
        request, recorded = interaction["request"], interaction["response"]
        if request["method"] == "POST":
            method, prop = method_of(request["body"])
            if method == "Fetch" and prop not in SERVED_FETCHES:
                continue
        status, text, cookie = replay.send(request)
        assert status == recorded["status"]["code"], (recording, request.get("body"))
        assert shape(text) == shape(recorded["body"]["string"]), (recording, request.get("body"))
        if request["method"] == "POST" and method == "Login" and status == 200:
            assert re.match(r'vmware_soap_session="[0-9a-f]+"; Path=/; HttpOnly; Secure;', cookie)
        replayed += 1
    assert replayed >= 2


def test_a_wrong_password_gets_the_recorded_fault(shared_folder, vcenter):
    (login,) = [i for i in interactions(shared_folder, "basic_connection_bad_password") if "<Login" in (i["request"]["body"] or "")]
    status, text, _ = Replay(vcenter).send(login["request"])
    fault = ET.fromstring(text.encode()).find(".//{http://schemas.xmlsoap.org/soap/envelope/}Fault")
    recorded = ET.fromstring(login["response"]["body"]["string"].encode()).find(".//{http://schemas.xmlsoap.org/soap/envelope/}Fault")
    assert status == 500
    assert [(e.tag, e.text, dict(e.attrib)) for e in fault.iter()] == [(e.tag, e.text, dict(e.attrib)) for e in recorded.iter()]
    assert vcenter.sessions == {}


def test_calls_need_a_session_and_unknown_methods_are_refused(vcenter):
    replay = Replay(vcenter)
    envelope = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        '<soapenv:Body><{0} xmlns="urn:vim25"><_this type="Folder">group-d1</_this>{1}</{0}></soapenv:Body></soapenv:Envelope>'
    )
    request = {"method": "POST", "uri": "https://vcsa/sdk", "headers": {}, "body": envelope.format("CreateFolder", "<name>x</name>")}
    status, text, _ = replay.send(request)
    assert status == 500 and 'xsi:type="NotAuthenticated"' in text

    login = envelope.format("Login", f"<userName>{USER}</userName><password>{PASSWORD}</password>").replace('type="Folder">group-d1', 'type="SessionManager">SessionManager')
    assert replay.send({**request, "body": login})[0] == 200
    status, text, _ = replay.send({**request, "body": envelope.format("Destroy_Task", "")})
    assert status == 500 and 'xsi:type="NotSupported"' in text
    assert vcenter.inventory.at("/x") is None
