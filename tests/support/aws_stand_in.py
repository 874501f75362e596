"""AWS on loopback for tests and benchmarks: moto's server, behind a proxy that
records and can misbehave.

moto runs in its own process (moto.server), so its work does not
share the GIL of the client under test. The SDK talks to the proxy
(``AWS_ENDPOINT_URL``); the proxy forwards every request and records
``(service, operation)``: Query APIs (EC2, IAM, STS) name the operation in the
form body (``Action=``), JSON APIs in the ``X-Amz-Target`` header. It can also

- answer the next N requests with a transient fault (503, or a throttling error),
- add a fixed latency to every request (a stand-in for a real round trip),
- hold the k-th mutating call, so a test can kill the client in the middle of a run.

::

    stand_in = AwsStandIn()                  # or the `aws` fixture of the AWS plugin's tests
    env = stand_in.environment(tmp_path)     # AWS_ENDPOINT_URL, dummy keys, no ~/.aws
    ...
    stand_in.mutating()                      # ['CreateRole', 'CreatePolicy', ...]
    stand_in.close()
"""

from __future__ import annotations

import atexit
import html
import http.client
import http.server
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Optional, Sequence

from loopback import Hold

READ_PREFIXES = ("Describe", "Get", "List")
# The AWS managed policies moto's IAM knows. Its full catalogue (~1,600, with
# their real documents) is parsed again for every account and partition on
# each reset, about a second; these are the ones the project attaches.
MANAGED_POLICIES = (
    "AmazonEKSClusterPolicy",
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonRoute53FullAccess",
    "AmazonRoute53ReadOnlyAccess",
    "AmazonSSMManagedInstanceCore",
)
# `python -m moto.server`, with its managed-policy catalogue narrowed first.
_LAUNCH_MOTO = """
import json, sys
import moto.iam.models
catalogue = json.loads(moto.iam.models.aws_managed_policies_data)
wanted = sys.argv[2].split(",") if sys.argv[2] else list(catalogue)
moto.iam.models.aws_managed_policies_data = json.dumps({name: catalogue[name] for name in wanted})
from moto.server import main
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
"""
ACCOUNT_ID = "123456789012"  # moto's
_SERVICE_IN_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")


def machine_image(ami_id: str, name: str, architecture: str = "x86_64", created: str = "2024-01-01T00:00:00.000Z") -> dict[str, object]:
    """One entry of moto's machine-image list (``amis_file``): public, available,
    owned by moto's account."""
    return {
        "ami_id": ami_id,
        "name": name,
        "description": name,
        "owner_id": ACCOUNT_ID,
        "public": True,
        "virtualization_type": "hvm",
        "architecture": architecture,
        "state": "available",
        "creation_date": created,
        "hypervisor": "xen",
        "root_device_type": "ebs",
        "root_device_name": "/dev/sda1",
        "sriov": "simple",
    }


def is_mutating(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class AwsStandIn:
    def __init__(
        self,
        *,
        amis_file: Optional[Path] = None,
        managed_policies: Optional[Sequence[str]] = MANAGED_POLICIES,
        startup_timeout: float = 30.0,
    ) -> None:
        """``amis_file``: moto's JSON list of the machine images every region has
        (``ami_id``, ``name``, ``owner_id``, ``architecture``, ``creation_date``...);
        none by default, which also keeps a reset fast. ``managed_policies``: the
        AWS managed policies IAM knows (None: all of them, and slow resets)."""
        self.moto_port = _free_port()
        env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true", "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
        if amis_file is not None:
            env["MOTO_AMIS_PATH"] = str(amis_file)
        self._moto = subprocess.Popen(
            [sys.executable, "-c", _LAUNCH_MOTO, str(self.moto_port), ",".join(managed_policies or ())],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        atexit.register(self.close)
        self._wait_for_moto(startup_timeout)
        self._lock = threading.Lock()
        self.calls: list[tuple[str, str]] = []
        self.latency = 0.0
        self._faults: list[tuple[Optional[str], int, str, str]] = []
        self._hold: Optional[Hold] = None
        self._mutating_seen = 0
        self._proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._proxy.daemon_threads = True
        threading.Thread(target=self._proxy.serve_forever, name="aws-stand-in-proxy", daemon=True).start()

    # -- what tests use ------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._proxy.server_address[1]}"

    def environment(self, folder: Path, region: str = "eu-west-1") -> dict[str, str]:
        """Variables that point boto3 at the proxy with dummy keys and keep any real
        ~/.aws configuration (and the instance metadata service) out of it."""
        config, credentials = folder / "aws-config", folder / "aws-credentials"
        config.write_text("")
        credentials.write_text("")
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": region,
            "AWS_CONFIG_FILE": str(config),
            "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def reset(self) -> None:
        """moto's state wiped; records, faults, latency and any hold cleared."""
        self._moto_request("POST", "/moto-api/reset")
        with self._lock:
            self.calls = []
            self._faults = []
            self.latency = 0.0
            if self._hold is not None:
                self._hold.release()
            self._hold = None
            self._mutating_seen = 0

    def clear_calls(self) -> None:
        with self._lock:
            self.calls = []

    def operations(self, service: Optional[str] = None) -> list[str]:
        with self._lock:
            return [op for svc, op in self.calls if service is None or svc == service]

    def mutating(self) -> list[str]:
        return [op for op in self.operations() if is_mutating(op)]

    def fail_next(
        self,
        count: int,
        *,
        status: int = 503,
        code: str = "ServiceUnavailable",
        message: str = "injected by the stand-in",
        operation: Optional[str] = None,
    ) -> None:
        """Answer the next ``count`` requests (of ``operation``, when given) with
        ``status``/``code`` instead of forwarding them."""
        with self._lock:
            self._faults.extend([(operation, status, code, message)] * count)

    def hold_at(self, k: int, *, forward: bool = True) -> Hold:
        """Stop the k-th mutating call from now on (1-based)."""
        with self._lock:
            self._hold = Hold(k, forward)
            self._mutating_seen = 0
            return self._hold

    def close(self) -> None:
        if self._moto.poll() is None:
            self._moto.kill()
            self._moto.wait()
        proxy = getattr(self, "_proxy", None)
        if proxy is not None:
            proxy.shutdown()
            proxy.server_close()
            self._proxy = None

    # -- moto -----------------------------------------------------------------

    def _moto_request(
        self, method: str, path: str, body: bytes = b"", headers: Optional[dict[str, str]] = None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.moto_port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _wait_for_moto(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self._moto.poll() is not None:
                raise RuntimeError(f"moto's server exited with {self._moto.returncode}")
            try:
                self._moto_request("GET", "/moto-api/")
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError(f"moto's server did not answer on port {self.moto_port} within {timeout:.0f}s") from None
                time.sleep(0.05)

    # -- the proxy ------------------------------------------------------------

    def _record(self, service: str, operation: str) -> tuple[Optional[tuple[Optional[str], int, str, str]], Optional[Hold]]:
        """Note the call; say whether to fault it, and whether it is the one to hold."""
        with self._lock:
            self.calls.append((service, operation))
            index = next((i for i, f in enumerate(self._faults) if f[0] in (None, operation)), None)
            fault = self._faults.pop(index) if index is not None else None
            hold = None
            if fault is None and is_mutating(operation) and self._hold is not None and not self._hold.reached.is_set():
                self._mutating_seen += 1
                if self._mutating_seen == self._hold.k:
                    hold = self._hold
                    hold.what = operation
            return fault, hold

    def _handler_class(self) -> type:
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's algorithm
                # and the client's delayed ACK add 40 ms to some answers.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                self._relay()

            def do_GET(self) -> None:
                self._relay()

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                service, operation = _identify(self.headers, self.path, body)
                fault, hold = stand_in._record(service, operation)
                if stand_in.latency:
                    time.sleep(stand_in.latency)
                if fault is not None:
                    _, status, code, message = fault
                    self._answer(status, [("Content-Type", "text/xml")], _fault_body(service, code, message))
                    return
                if hold is not None and not hold.forward:
                    self._hold(hold)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
                status, response_headers, response_body = stand_in._moto_request(self.command, self.path, body, headers)
                if hold is not None:
                    self._hold(hold)
                    return
                self._answer(status, response_headers, response_body)

            def _hold(self, hold: Hold) -> None:
                hold.wait_here()
                self.close_connection = True

            def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                try:
                    self.send_response(status)
                    for key, value in headers:
                        if key.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client is gone (killed on purpose)
                    self.close_connection = True

        return Handler


def _identify(headers: object, path: str, body: bytes) -> tuple[str, str]:
    scope = _SERVICE_IN_SCOPE.search(headers.get("Authorization", ""))  # type: ignore[attr-defined]
    service = scope.group(1) if scope else "?"
    target = headers.get("X-Amz-Target")  # type: ignore[attr-defined]
    if target:
        return service, target.rsplit(".", 1)[-1]
    query = urllib.parse.urlsplit(path).query
    for text in (body.decode("utf-8", "replace"), query):
        action = urllib.parse.parse_qs(text).get("Action")
        if action:
            return service, action[0]
    return service, "?"


def _fault_body(service: str, code: str, message: str) -> bytes:
    error = f"<Code>{code}</Code><Message>{html.escape(message)}</Message>"
    if service == "ec2":  # EC2's own error shape
        return f"<Response><Errors><Error>{error}</Error></Errors><RequestID>stand-in</RequestID></Response>".encode()
    return f"<ErrorResponse><Error><Type>Receiver</Type>{error}</Error><RequestId>stand-in</RequestId></ErrorResponse>".encode()
