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

:class:`Pacing` gives a stand-in a fixed latency per request (a stand-in for a
real round trip, for benchmarks) and a hold on the k-th mutating request (so a
test can kill the client in the middle of a run).
"""

from __future__ import annotations

import hashlib
import http.server
import ssl
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Optional


class Hold:
    """The k-th mutating request, stopped: ``reached`` is set when it arrives.
    With ``forward`` the stand-in does the work first and only the answer is held
    back (the cloud made it; the client never learns). A held request is never
    answered: the handler waits for ``release`` and closes the connection."""

    def __init__(self, k: int, forward: bool) -> None:
        self.k = k
        self.forward = forward
        self.reached = threading.Event()
        self.released = threading.Event()
        self.what = ""

    def release(self) -> None:
        self.released.set()

    def wait_here(self) -> None:
        """In the handler: tell the test, then wait until it lets go."""
        self.reached.set()
        self.released.wait()


class Pacing:
    """Latency and a hold for a stand-in's handler::

        hold = pacing.before(mutating=True, what="PUT vnet acme-dev")
        if hold and not hold.forward: hold.wait_here(); close the connection; return
        ... do the work ...
        if hold: hold.wait_here(); close the connection; return
    """

    def __init__(self) -> None:
        self.latency = 0.0
        self._lock = threading.Lock()
        self._hold: Optional[Hold] = None
        self._mutating_seen = 0

    def hold_at(self, k: int, *, forward: bool = True) -> Hold:
        """Hold the k-th mutating request from now on (1 is the next one)."""
        with self._lock:
            self._hold, self._mutating_seen = Hold(k, forward), 0
            return self._hold

    def before(self, *, mutating: bool, what: str) -> Optional[Hold]:
        """Wait the latency; the hold when this request is the one to hold."""
        if self.latency:
            time.sleep(self.latency)
        if not mutating:
            return None
        with self._lock:
            hold = self._hold
            if hold is None or hold.reached.is_set():
                return None
            self._mutating_seen += 1
            if self._mutating_seen != hold.k:
                return None
            hold.what = what
            return hold

    def reset(self) -> None:
        """No latency, and any hold let go."""
        with self._lock:
            self.latency = 0.0
            if self._hold is not None:
                self._hold.release()
            self._hold, self._mutating_seen = None, 0


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
