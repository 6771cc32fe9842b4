"""Real servers on 127.0.0.1 for tests that send things: HTTP webhooks and SMTP.

* :class:`HttpReceiver` records every request (path, query, headers, body) and
  answers from a queue of :class:`Reply` objects, then with a default.
* :class:`MailReceiver` is an aiosmtpd server that keeps what it receives, in
  plain, STARTTLS or implicit-TLS flavour, optionally with AUTH.
* :func:`make_certificate` writes a throwaway CA and a server certificate for
  127.0.0.1 and localhost, so TLS is checked for real.

Everything listens on port 0 (a free port chosen by the system) and is a
context manager; nothing starts at import.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import json
import socket
import ssl
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

OK_ROBOT = {"errcode": 0, "errmsg": "ok"}


def unused_port() -> int:
    """A loopback port with nothing listening on it (for "connection refused")."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- HTTP -------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One answer: a status, a JSON body (or raw bytes), after an optional delay."""

    status: int = 200
    body: object = field(default_factory=lambda: dict(OK_ROBOT))
    delay: float = 0.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


class HttpReceiver:
    """A threaded HTTP server that records requests and answers from a queue."""

    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply()
        self._replies: deque[Reply] = deque()
        self._requests: list[Request] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> HttpReceiver:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def port(self) -> int:
        assert self._server is not None, "use HttpReceiver as a context manager"
        return self._server.server_address[1]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def reply(self, *replies: Reply) -> None:
        """Queue answers for the next requests, in order; then the default again."""
        with self._lock:
            self._replies.extend(replies)

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def _record(self, request: Request) -> Reply:
        with self._lock:
            self._requests.append(request)
            return self._replies.popleft() if self._replies else self.default

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urllib.parse.urlsplit(self.path)
                reply = receiver._record(
                    Request(
                        method=self.command,
                        path=url.path,
                        query=urllib.parse.parse_qs(url.query, keep_blank_values=True),
                        headers={name.lower(): value for name, value in self.headers.items()},
                        body=body,
                    )
                )
                if reply.delay:
                    time.sleep(reply.delay)
                if isinstance(reply.body, bytes):
                    payload, kind = reply.body, "application/octet-stream"
                else:
                    payload, kind = json.dumps(reply.body).encode(), "application/json"
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (a timeout test): nothing to tell it

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


# --- TLS --------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    ca_file: Path  # what a client trusts
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificate(directory: Path) -> Certificate:
    """A throwaway CA and a server certificate it signed, for 127.0.0.1 and localhost."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qiaoqiao test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = Certificate(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


# --- SMTP -------------------------------------------------------------------


class _LoopbackController(Controller):
    def _trigger_server(self) -> None:
        # aiosmtpd pokes its own port to start up; with port 0 it must first learn
        # which port the system gave it.
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class MailReceiver:
    """An SMTP server on 127.0.0.1 that keeps every message it accepts.

    ``tls``: None (plain), "starttls" (required before MAIL) or "tls" (implicit).
    ``users``: if given, AUTH LOGIN is required with one of these name/password pairs.
    """

    def __init__(
        self,
        *,
        tls: str | None = None,
        certificate: Certificate | None = None,
        users: dict[str, str] | None = None,
    ) -> None:
        if tls is not None and certificate is None:
            raise ValueError("TLS needs a certificate")
        self.tls = tls
        self.certificate = certificate
        self.users = users
        self.envelopes: list = []
        self.logins: list[tuple[str, str, bool]] = []  # (mechanism, name, accepted)
        self._controller: Controller | None = None

    def __enter__(self) -> MailReceiver:
        options: dict = {}
        if self.tls == "starttls":
            options.update(tls_context=self.certificate.server_context(), require_starttls=True)
        elif self.tls == "tls":
            # aiosmtpd does not count an implicit-TLS connection as encrypted, so
            # "AUTH only over TLS" would refuse every login here; it is TLS anyway.
            options.update(ssl_context=self.certificate.server_context(), auth_require_tls=False)
        if self.users is not None:
            # PLAIN excluded so that clients have to use AUTH LOGIN.
            options.update(
                authenticator=self._authenticate, auth_required=True, auth_exclude_mechanism=["PLAIN"]
            )
        self._controller = _LoopbackController(self, hostname="127.0.0.1", port=0, **options)
        self._controller.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._controller is not None
        self._controller.stop()

    @property
    def port(self) -> int:
        assert self._controller is not None, "use MailReceiver as a context manager"
        return self._controller.port

    @property
    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(envelope.original_content, policy=email.policy.default)
            for envelope in list(self.envelopes)
        ]

    def clear(self) -> None:
        self.envelopes.clear()
        self.logins.clear()

    async def handle_DATA(self, server, session, envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        name, password = auth_data.login.decode(), auth_data.password.decode()
        accepted = self.users is not None and self.users.get(name) == password
        self.logins.append((mechanism, name, accepted))
        return AuthResult(success=accepted, handled=False)
