"""An HTTP(S) server on 127.0.0.1 for the cloud stand-ins (Azure ARM, GCP, vCenter).

Each stand-in brings its own ``http.server.BaseHTTPRequestHandler`` subclass;
this module gives it a free port, a thread, and with ``tls=True`` a real TLS
endpoint whose certificate is signed by a throwaway CA (trustme), so the SDKs
verify it as they would a cloud's::

    server = LoopbackServer(MyHandler, tls=True)
    server.url            # https://127.0.0.1:PORT
    server.ca_file        # PEM of the CA, for REQUESTS_CA_BUNDLE / SSL_CERT_FILE
    server.thumbprint     # SHA-1 of the certificate, AA:BB:... as vCenter shows it
    server.close()

The handler reaches its server as ``self.server``; per-test state goes on
``server.state`` (any object the stand-in chooses).
"""

from __future__ import annotations

import hashlib
import http.server
import ssl
import tempfile
import threading
from pathlib import Path
from typing import Any, Optional


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops connections when many clusters are prepared
    # at once, and the SDKs then wait a second before they retry.
    request_queue_size = 128
    state: Any = None


class LoopbackServer:
    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler], *, tls: bool = False, state: Any = None) -> None:
        self._server = _Server(("127.0.0.1", 0), handler)
        self._server.state = state
        self.ca_file: Optional[str] = None
        self.thumbprint: Optional[str] = None
        self._folder: Optional[tempfile.TemporaryDirectory] = None
        if tls:
            self._wrap_in_tls()
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"{handler.__name__}-server", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        scheme = "https" if self.ca_file else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def state(self) -> Any:
        return self._server.state

    @state.setter
    def state(self, value: Any) -> None:
        self._server.state = value

    def _wrap_in_tls(self) -> None:
        import trustme

        ca = trustme.CA()
        certificate = ca.issue_cert("127.0.0.1", "localhost")
        self._folder = tempfile.TemporaryDirectory(prefix="loopback-ca-")
        self.ca_file = str(Path(self._folder.name) / "ca.pem")
        ca.cert_pem.write_to_path(self.ca_file)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate.configure_cert(context)
        leaf = ssl.PEM_cert_to_DER_cert(certificate.cert_chain_pems[0].bytes().decode())
        digest = hashlib.sha1(leaf).hexdigest().upper()
        self.thumbprint = ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._folder is not None:
            self._folder.cleanup()
