"""The ways out for an alert: a command (the payload as JSON on its stdin) and mail (SMTP
with STARTTLS, the standard library's smtplib and email).

Each has a time limit: a command still running then is stopped with its whole process
group, so a hung script cannot hold up the run (nor the store, whose lock is never held
while sending). A failure is `AlertFailed` with one sentence that names the channel and
what went wrong, never the payload or what the command printed (either may hold patient
data when a rule includes it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import smtplib
import ssl
import subprocess
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from cbtrack.alertrules import AlertMail


class AlertFailed(Exception):
    """An alert could not be sent; `str()` is one sentence."""


def run_command(argv: list[str], data: bytes, timeout: float) -> None:
    """Run `argv` with `data` on its stdin; its output is dropped. Raises AlertFailed when
    it cannot start, exits non-zero, or outlives `timeout` seconds."""
    name = os.path.basename(argv[0])
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,  # its own process group, stopped whole on a timeout
        )
    except FileNotFoundError:
        raise AlertFailed(f"the alert command {name} was not found") from None
    except PermissionError:
        raise AlertFailed(f"the alert command {name} may not be run (not executable)") from None
    except OSError as exc:
        raise AlertFailed(f"the alert command {name} could not start ({exc.strerror})") from None
    try:
        proc.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        raise AlertFailed(
            f"the alert command {name} was stopped after its time limit of {timeout:g}s"
        ) from None
    if proc.returncode != 0:
        raise AlertFailed(f"the alert command {name} failed (exit status {proc.returncode})")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.communicate(timeout=5)


def message(mail: AlertMail, subject: str, body: str, now: datetime) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = mail.from_
    msg["To"] = ", ".join(mail.to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)  # cbtrack's clock (CBTRACK_NOW), as the alert's body
    msg["Message-ID"] = make_msgid(domain=mail.from_.rpartition("@")[2] or None)
    msg.set_content(body)
    return msg


def send_mail(mail: AlertMail, subject: str, body: str, timeout: float, now: datetime) -> None:
    """One SMTP conversation: STARTTLS when the rule says so (the server's certificate is
    checked against the system's trusted ones), log in with the password from the
    environment variable `password_env`, send. Raises AlertFailed."""
    host, port = mail.host_port
    password = None
    if mail.password_env is not None:
        password = os.environ.get(mail.password_env)
        if not password:
            raise AlertFailed(
                f"the mail password variable {mail.password_env} is not set in the "
                "environment cbtrack runs in"
            )
    where = f"the mail server {host}:{port}"
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as smtp:
            if mail.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if mail.user is not None and password is not None:
                smtp.login(mail.user, password)
            smtp.send_message(message(mail, subject, body, now))
    except smtplib.SMTPAuthenticationError:
        raise AlertFailed(f"{where} refused the login of {mail.user}") from None
    except smtplib.SMTPNotSupportedError:
        raise AlertFailed(f"{where} does not offer STARTTLS (or login)") from None
    except smtplib.SMTPRecipientsRefused:
        raise AlertFailed(f"{where} refused the recipients") from None
    except smtplib.SMTPResponseException as exc:
        raise AlertFailed(f"{where} answered {exc.smtp_code}") from None
    except ssl.SSLError as exc:
        raise AlertFailed(f"{where}: TLS failed ({exc.reason or 'certificate'})") from None
    except TimeoutError:
        raise AlertFailed(f"{where} did not answer within {timeout:g}s") from None
    except smtplib.SMTPException as exc:
        raise AlertFailed(f"{where} failed ({type(exc).__name__})") from None
    except OSError as exc:
        raise AlertFailed(f"{where} could not be reached ({exc.strerror or exc})") from None
