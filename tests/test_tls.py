"""``quart-blog serve --certfile --keyfile``: TLS 1.2+ only, h2 by ALPN, HSTS, Secure cookies."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.factories import PASSWORD
from tests.live import HOST, LiveServer

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


def self_signed(directory: Path) -> tuple[Path, Path]:
    """The README's recipe for a local certificate."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ),
            *("-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2"),
            *("-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("tls")
    with LiveServer(directory, workers=1, tls=self_signed(directory)) as live:
        yield live


def handshake(port: int, version: ssl.TLSVersion, alpn: list[str]) -> tuple[str, str | None]:
    """Connect with exactly ``version``; return the negotiated protocol and ALPN."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():  # TLS 1.0/1.1 are deprecated, which is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = version
    # Let this client offer old protocols at all, so a refusal is the server's.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.set_alpn_protocols(alpn)
    with (
        socket.create_connection((HOST, port), timeout=5) as raw,
        context.wrap_socket(raw) as tls,
    ):
        return str(tls.version()), tls.selected_alpn_protocol()


def test_tls_negotiates_h2_by_alpn(server: LiveServer) -> None:
    assert handshake(server.port, ssl.TLSVersion.TLSv1_3, ["h2", "http/1.1"]) == ("TLSv1.3", "h2")
    assert handshake(server.port, ssl.TLSVersion.TLSv1_2, ["http/1.1"]) == ("TLSv1.2", "http/1.1")


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_tls_old_protocols_refused(server: LiveServer, version: ssl.TLSVersion) -> None:
    with pytest.raises(ssl.SSLError) as refused:
        handshake(server.port, version, ["http/1.1"])
    # The server answered with an alert; the client did offer the old protocol.
    assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value), refused.value


def test_tls_http2_request_has_hsts_and_secure_cookie(server: LiveServer) -> None:
    with httpx.Client(base_url=server.base_url, http2=True, verify=False) as client:  # noqa: S501 (self-signed)
        health = client.get("/healthz")
        assert health.http_version == "HTTP/2"
        assert health.headers["strict-transport-security"].startswith("max-age=")
        client.post("/api/v1/register", json={"username": "tls_user", "password": PASSWORD})
        login = client.post("/api/v1/login", json={"username": "tls_user", "password": PASSWORD})
        assert login.status_code == 200
        cookie = login.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
