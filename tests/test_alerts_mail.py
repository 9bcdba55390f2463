"""Alerts by mail: a real SMTP conversation with a local server the test starts (aiosmtpd),
with STARTTLS against a certificate the test makes and a login whose password comes from
an environment variable; and each way the conversation can fail."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from helpers_alerts import EMERGENCY_ADD, PATIENT, PHONE, REASON, alerted_events, set_alerts

from tests.conftest import NOW, Cli

USER, PASSWORD = "cbtrack", "correct horse battery"


class Inbox:
    """The server's handler: keeps every message it accepts."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[Message]:
        return [message_from_bytes(e.original_content) for e in self.envelopes]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # (a refusal: the server says 535)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and the key), made with openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test server's certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]  # fmt: skip
    subprocess.run(make, check=True, capture_output=True)
    return cert, key


@pytest.fixture
def plain_server() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[tuple[Inbox, int]]:
    """A server that requires STARTTLS before anything else, and a login over it."""
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=_login,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    yield inbox, port
    controller.stop()


def mail_rule(port: int, tls: bool = True, **extra: Any) -> dict[str, Any]:
    mail: dict[str, Any] = {
        "to": ["nurses@example.org", "oncall@example.org"],
        "from": "cbtrack@example.org",
        "smtp": f"127.0.0.1:{port}",
        "starttls": tls,
    }
    if tls:
        mail.update(user=USER, password_env="CBTRACK_TEST_SMTP_PASSWORD")
    mail.update(extra)
    return {"when": "emergency", "mail": mail, "timeout": 10}


def test_plain_smtp_conversation(cli: Cli, store_dir: Path, plain_server: Any) -> None:
    inbox, port = plain_server
    set_alerts(store_dir, [mail_rule(port, tls=False)])
    out = cli.ok(*EMERGENCY_ADD)
    cid = out.stdout.strip()
    assert "Alert sent: emergency alert for" in out.stderr
    [envelope] = inbox.envelopes
    assert envelope.mail_from == "cbtrack@example.org"
    assert envelope.rcpt_tos == ["nurses@example.org", "oncall@example.org"]
    [msg] = inbox.messages()
    assert msg["Subject"] == f"cbtrack: Emergency callback {cid}"
    # dated by cbtrack's clock (CBTRACK_NOW), like the alert it carries
    assert parsedate_to_datetime(msg["Date"]) == datetime.fromisoformat(NOW)
    body = msg.get_payload(decode=True).decode().replace("\r\n", "\n")
    line, payload = body.split("\n\n", 1)
    assert line.startswith(f"Emergency callback: {cid} (")
    data = json.loads(payload)
    assert data["id"] == cid and data["alert"] == "emergency" and data["owner"] == "clinical"
    raw = envelope.original_content.decode().lower()
    for secret in (PATIENT, PHONE, PHONE[2:], REASON, "chest"):
        assert secret.lower() not in raw
    [event] = alerted_events(cli.record(cid))
    assert event["set"]["channel"] == "mail"
    assert event["set"]["to"] == "nurses@example.org, oncall@example.org"


def test_starttls_and_login_with_the_password_from_the_environment(
    cli: Cli,
    store_dir: Path,
    tls_server: Any,
    certificate: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox, port = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # trust the test's certificate
    monkeypatch.setenv("CBTRACK_TEST_SMTP_PASSWORD", PASSWORD)
    set_alerts(store_dir, [mail_rule(port)])
    cid = cli.ok(*EMERGENCY_ADD).stdout.strip()
    [msg] = inbox.messages()
    assert cid in msg["Subject"]
    assert PASSWORD not in (store_dir / "cbtrack.yaml").read_text()
    assert len(alerted_events(cli.record(cid))) == 1


def test_mail_failures_are_one_sentence_and_retried(
    cli: Cli,
    store_dir: Path,
    tls_server: Any,
    certificate: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox, port = tls_server
    set_alerts(store_dir, [mail_rule(port)])
    cid = cli.ok(*EMERGENCY_ADD).stdout.strip()
    name = f"Error: the emergency alert for {cid} by mail was not sent: "

    def failure() -> str:
        out = cli("alerts")
        assert out.exit_code == 1
        [line] = out.stderr.strip().splitlines()
        tail = "; the next run tries again."
        assert line.startswith(name) and line.endswith(tail)
        return line[len(name) : -len(tail)]

    assert failure().startswith("the mail password variable CBTRACK_TEST_SMTP_PASSWORD is not")
    monkeypatch.setenv("CBTRACK_TEST_SMTP_PASSWORD", "wrong")
    assert failure().startswith(f"the mail server 127.0.0.1:{port}: TLS failed")  # untrusted
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    assert failure() == f"the mail server 127.0.0.1:{port} refused the login of {USER}"
    monkeypatch.setenv("CBTRACK_TEST_SMTP_PASSWORD", PASSWORD)
    assert inbox.envelopes == [] and alerted_events(cli.record(cid)) == []
    sent = cli.ok("alerts")
    assert sent.stdout == "" and sent.stderr == ""
    assert len(inbox.envelopes) == 1 and len(alerted_events(cli.record(cid))) == 1


def test_a_mail_server_that_is_not_there(cli: Cli, store_dir: Path) -> None:
    set_alerts(store_dir, [mail_rule(free_port(), tls=False)])
    out = cli.ok(*EMERGENCY_ADD)
    assert "could not be reached" in out.stderr
    assert "'cbtrack alerts' tries again on its next run." in out.stderr
