"""How a stored message leaves the building: ``outbox`` (it does not), ``log`` or ``http``.

A backend's ``deliver`` never raises: a citizen must not see an error page because the SMS
gateway is down. It returns a ``Delivery`` that is written back onto the message row.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Protocol

import requests

from idp.services.identifiers import mask_phone

log = logging.getLogger("tnid.notify")

_DIGITS = re.compile(r"[0-9]")


@dataclass(frozen=True)
class Outgoing:
    """What a backend needs; no database object crosses into delivery."""

    id: int
    phone: str
    purpose: str
    body: str


@dataclass(frozen=True)
class Delivery:
    delivered: bool
    error: str | None = None


class Backend(Protocol):
    name: str
    # False: the message is only stored (nothing to do after the commit).
    delivers: bool

    def deliver(self, message: Outgoing) -> Delivery: ...


class OutboxBackend:
    """Stored only: read with ``tnid outbox`` or, in development, on /dev/outbox."""

    name = "outbox"
    delivers = False

    def deliver(self, message: Outgoing) -> Delivery:
        return Delivery(False)


class LogBackend:
    """One log line per message. In production the digits of the text are masked: codes must
    never end up in a log collector."""

    name = "log"
    delivers = True

    def __init__(self, *, mask_digits: bool) -> None:
        self.mask_digits = mask_digits

    def deliver(self, message: Outgoing) -> Delivery:
        body = _DIGITS.sub("•", message.body) if self.mask_digits else message.body
        log.info("sms", extra={"to": mask_phone(message.phone), "purpose": message.purpose,
                               "message_id": message.id, "text": body})
        return Delivery(True)


class HttpBackend:
    """POST ``{"to", "text", "id", "purpose"}`` as JSON to the SMS gateway with a bearer
    token; any 2xx is a delivery. Short timeout: the citizen is waiting for the page."""

    name = "http"
    delivers = True

    def __init__(self, url: str, *, token: str | None, timeout: float) -> None:
        self.url, self.token, self.timeout = url, token, timeout

    def deliver(self, message: Outgoing) -> Delivery:
        headers = {"User-Agent": "ThaiNguyen-ID"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        payload = {"to": message.phone, "text": message.body, "id": message.id,
                   "purpose": message.purpose}
        try:
            response = requests.post(self.url, json=payload, headers=headers,
                                     timeout=self.timeout, allow_redirects=False)
        except requests.Timeout:
            return self._failed(message, "timeout")
        except requests.ConnectionError:
            return self._failed(message, "connection failed")
        except requests.RequestException as error:
            return self._failed(message, f"request error: {type(error).__name__}")
        if 200 <= response.status_code < 300:
            return Delivery(True)
        # Only the status: the gateway's body may echo the text (and its code) back.
        return self._failed(message, f"gateway answered HTTP {response.status_code}")

    def _failed(self, message: Outgoing, error: str) -> Delivery:
        log.warning("sms delivery failed", extra={"to": mask_phone(message.phone),
                                                  "message_id": message.id, "error": error})
        return Delivery(False, error)


def backend_for(name: str, *, production: bool, url: str | None = None,
                token: str | None = None, timeout: float = 5) -> Backend:
    if name == "log":
        return LogBackend(mask_digits=production)
    if name == "http":
        if not url:
            raise ValueError("the http backend needs a gateway URL")
        return HttpBackend(url, token=token, timeout=timeout)
    return OutboxBackend()
