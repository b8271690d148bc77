"""Cross-device QR sign-in (BankID style): a desktop browser asks, a phone that is already
signed in approves by picking the matching number, and only the browser that asked can then
finish the sign-in.

* The request lives ``LIFETIME`` and is single-use. It is bound to the desktop browser by a
  random value the browser keeps (its Flask session); only the value's SHA-256 is stored.
* The QR code changes every second: ``{issuer}/qr/a?r=<id>&t=<seconds since start>&h=<MAC>``
  with an HMAC-SHA256 over (id, t) under a key derived from the provider's secret. A code
  whose ``t`` is more than ``FRESH_SECONDS`` behind the server's own clock is refused, so a
  screenshot or a forwarded code is useless within seconds.
* The phone picks one of three numbers; a wrong pick denies the request (single chance) and
  counts as a failed secret of the approving account (``throttle``).
* The new session's level is at most the approving session's: ``amr`` ["qr"] (plus "mfa" and
  acr 2 only when the approving session had two factors).

No Flask request in here: the views pass the database session, the clock, the secret and the
addresses in.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import secrets
import uuid
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg
from qrcode.compat.etree import ET
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from idp import notify
from idp.models import Citizen, CitizenStatus, QrSignInRequest, SsoSession
from idp.services import audit, throttle
from idp.services.sso_sessions import ACR_ONE_FACTOR, ACR_TWO_FACTORS

LIFETIME = timedelta(minutes=2)
# How far behind the server's clock a scanned code may be: the camera app and a slow mobile
# link need a few seconds; a screenshot sent through a chat app takes longer.
FRESH_SECONDS = 8
# Several nodes' clocks may differ slightly; a code from further in the future is forged.
FUTURE_SECONDS = 2
MAC_BYTES = 16  # 128 bits: not guessable, and the URL stays short (a smaller QR code)
OPEN = ("pending", "scanned")
VN_TIME = timezone(timedelta(hours=7), "ICT")  # Vietnam has no daylight-saving time


class Refusal(enum.StrEnum):
    """Why a code, a decision or a completion was refused (also the audit ``reason``)."""

    MALFORMED = "malformed"
    FORGED = "forged"
    STALE = "stale"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    DECIDED = "decided"          # already approved, denied or used
    DENIED = "denied"
    USED = "used"
    NOT_APPROVED = "pending"     # the phone has not said yes (yet)
    OTHER_BROWSER = "other_browser"
    WRONG_NUMBER = "wrong_number"
    THROTTLED = "throttled"
    APPROVER_GONE = "approver_gone"


@dataclass(frozen=True)
class Outcome:
    request: QrSignInRequest | None = None
    refused: Refusal | None = None
    retry_after: int = 0

    @property
    def ok(self) -> bool:
        return self.refused is None


@dataclass(frozen=True)
class Completion:
    citizen: Citizen
    amr: list[str]
    acr: str
    interaction: str | None
    request: QrSignInRequest


# --- keys and codes ----------------------------------------------------------------------------


def derive_key(secret_key: str) -> bytes:
    """A key of its own for QR codes, so a MAC here can never be a valid signature elsewhere."""
    return hmac.new(secret_key.encode(), b"tnid.qr_login.v1", hashlib.sha256).digest()


def _hash_browser(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def browser_label(value: str) -> str:
    """A short name for a browser's value (rate-limit keys) that does not reveal it."""
    return _hash_browser(value)[:16]


def code_mac(key: bytes, request_id: uuid.UUID, t: int) -> str:
    digest = hmac.new(key, f"code|{request_id.hex}|{t}".encode(), hashlib.sha256).digest()
    return urlsafe_b64encode(digest[:MAC_BYTES]).rstrip(b"=").decode()


def scan_ticket(key: bytes, request_id: uuid.UUID, sid: str) -> str:
    """Proof, carried by the phone's form, that this signed-in session scanned a fresh code
    of this request: the decision is only accepted with it."""
    digest = hmac.new(key, f"scan|{request_id.hex}|{sid}".encode(), hashlib.sha256).digest()
    return urlsafe_b64encode(digest[:MAC_BYTES]).rstrip(b"=").decode()


def ticket_ok(key: bytes, request_id: uuid.UUID, sid: str, ticket: str) -> bool:
    return hmac.compare_digest(scan_ticket(key, request_id, sid), ticket or "")


def elapsed(request: QrSignInRequest, now: datetime) -> int:
    """Whole seconds since the request started (the ``t`` of the current code)."""
    return max(0, int((now - request.created_at).total_seconds()))


def code_url(issuer: str, key: bytes, request: QrSignInRequest, t: int) -> str:
    query = urlencode({"r": request.id.hex, "t": t, "h": code_mac(key, request.id, t)})
    return f"{issuer}/qr/a?{query}"


def current_t(request: QrSignInRequest, now: datetime, wanted: str | None = None) -> int:
    """The ``t`` to draw: the one asked for when it is still fresh (so the picture and the
    page's copy of the URL agree), else the current second. Never a future one."""
    now_t = elapsed(request, now)
    if _is_number(wanted) and now_t - FRESH_SECONDS < int(wanted) <= now_t:
        return int(wanted)
    return now_t


class _RunLengthSvg(qrcode.image.svg.SvgPathFillImage):
    """qrcode's SVG factory (white background: phones in dark mode still read it), with each
    row's dark modules merged into one rectangle: about a third of the stock path's size,
    which matters when a new picture goes out every second over a slow mobile link."""

    needs_drawrect = False  # the rows are drawn at once in process(), not module by module

    def process(self) -> None:
        runs, border = [], self.border
        for y, row in enumerate(self.modules):
            x = 0
            while x < len(row):
                if not row[x]:
                    x += 1
                    continue
                start = x
                while x < len(row) and row[x]:
                    x += 1
                runs.append(f"M{start + border},{y + border}h{x - start}v1h-{x - start}z")
        self._img.append(ET.Element("path", d="".join(runs), fill="#000",
                                    attrib={"shape-rendering": "crispEdges"}))


def render_svg(content: str) -> str:
    """The QR code of ``content`` as a standalone SVG document (sized by the page)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4,
                         image_factory=_RunLengthSvg)
    code.add_data(content)
    code.make(fit=True)
    return code.make_image().to_string(encoding="unicode")


# --- the desktop starts ------------------------------------------------------------------------


def _choices(rng: secrets.SystemRandom) -> tuple[str, list[str]]:
    """The matching number (10-99: two digits, no leading zero to misread) and two distinct
    decoys, shuffled."""
    picked = rng.sample(range(10, 100), 3)
    answer = str(picked[0])
    shown = [str(n) for n in picked]
    rng.shuffle(shown)
    return answer, shown


def start(session: Session, *, now: datetime, ip: str, user_agent: str,
          interaction: str | None = None, client_id: str | None = None,
          client_domain: str | None = None) -> tuple[str, QrSignInRequest]:
    """Create a request; returns (the browser's secret value, the row). The caller keeps the
    value in the desktop browser only."""
    browser_secret = secrets.token_urlsafe(32)
    answer, shown = _choices(secrets.SystemRandom())
    request = QrSignInRequest(
        id=uuid.uuid4(), browser_hash=_hash_browser(browser_secret), status="pending",
        matching_number=answer, choices=shown, number_attempts=0, interaction=interaction,
        client_id=client_id, client_domain=(client_domain or None) and client_domain[:253],
        requester_ip=(ip or "")[:45], requester_user_agent=(user_agent or "")[:255],
        created_at=now, expires_at=now + LIFETIME,
    )
    session.add(request)
    session.flush()
    audit.record(session, "auth:qr:created", actor_type="anonymous", ip=ip,
                 client_id=client_id, details={"request": request.id.hex}, now=now)
    return browser_secret, request


def for_browser(session: Session, browser_secret: str | None) -> QrSignInRequest | None:
    """The request this browser started, if it still has its value."""
    if not browser_secret or len(browser_secret) > 128:
        return None
    return session.scalar(select(QrSignInRequest).where(
        QrSignInRequest.browser_hash == _hash_browser(browser_secret)))


def status(request: QrSignInRequest, now: datetime) -> str:
    """pending | scanned | approved | denied | used | expired (as the desktop sees it)."""
    if request.status != "used" and now >= request.expires_at:
        return "expired"
    return request.status


# --- the phone scans ---------------------------------------------------------------------------


def parse_request_id(raw: str | None) -> uuid.UUID | None:
    if not raw or len(raw) > 40:
        return None
    try:
        return uuid.UUID(hex=raw)
    except ValueError:
        return None


def _is_number(text: str | None) -> bool:
    """ASCII digits only: str.isdigit() also accepts "²", which int() then refuses."""
    return bool(text) and len(text) <= 6 and text.isascii() and text.isdigit()


def check_code(session: Session, *, r: str | None, t: str | None, h: str | None, key: bytes,
               now: datetime, ip: str | None) -> Outcome:
    """Is this a fresh, genuine code of an open request? Refusals of forged or stale codes are
    audited: they are what a phishing attempt looks like."""
    request_id = parse_request_id(r)
    if request_id is None or not _is_number(t) or not h or len(h) > 64:
        return _refuse_code(session, Refusal.MALFORMED, None, ip, now)
    seconds = int(t)
    if not hmac.compare_digest(code_mac(key, request_id, seconds), h):
        return _refuse_code(session, Refusal.FORGED, None, ip, now, request_id=request_id.hex)
    request = session.get(QrSignInRequest, request_id)
    if request is None:
        return _refuse_code(session, Refusal.UNKNOWN, None, ip, now, request_id=request_id.hex)
    if now >= request.expires_at:
        return _refuse_code(session, Refusal.EXPIRED, request, ip, now)
    now_t = elapsed(request, now)
    if seconds < now_t - FRESH_SECONDS or seconds > now_t + FUTURE_SECONDS:
        return _refuse_code(session, Refusal.STALE, request, ip, now,
                            age=now_t - seconds)
    if request.status not in OPEN:
        return _refuse_code(session, Refusal.DECIDED, request, ip, now)
    return Outcome(request)


def _refuse_code(session: Session, reason: Refusal, request: QrSignInRequest | None,
                 ip: str | None, now: datetime, **details: object) -> Outcome:
    if request is not None:
        details["request"] = request.id.hex
    audit.record(session, "auth:qr:code_refused", actor_type="anonymous", outcome="failure",
                 ip=ip, client_id=request.client_id if request else None,
                 details={"reason": str(reason), **details}, now=now)
    return Outcome(request, reason)


def mark_scanned(request: QrSignInRequest) -> None:
    """The desktop may now tell the citizen to look at the phone."""
    if request.status == "pending":
        request.status = "scanned"


# --- the phone decides -------------------------------------------------------------------------


def decide(session: Session, request: QrSignInRequest, *, approver: SsoSession,
           number: str | None, ip: str | None, now: datetime) -> Outcome:
    """``number`` None means the citizen pressed "Deny". One chance: a wrong number denies
    the request and counts as a failed secret of the approving account."""
    citizen = approver.citizen
    if now >= request.expires_at:
        return Outcome(request, Refusal.EXPIRED)
    if request.status not in OPEN:
        return Outcome(request, Refusal.DECIDED)
    if number is not None:
        verdict = throttle.check(citizen, now=now)
        if not verdict.allowed:
            audit.record(session, "auth:qr:denied", citizen_id=citizen.id, actor_id=citizen.id,
                         outcome="failure", ip=ip, client_id=request.client_id,
                         details={"request": request.id.hex, "reason": "throttled"}, now=now)
            return Outcome(request, Refusal.THROTTLED, verdict.retry_after)
    right = number is not None and hmac.compare_digest(number.encode(),
                                                       request.matching_number.encode())
    values: dict[str, object] = {
        "status": "approved" if right else "denied", "approver_citizen_id": citizen.id,
        "approver_ip": (ip or "")[:45] or None, "approved_at": now,
        "number_attempts": QrSignInRequest.number_attempts + int(number is not None),
    }
    if right:
        values.update(approver_sid=approver.sid, approver_acr=approver.acr)
    # A guarded UPDATE: of two decisions racing on two nodes, exactly one wins.
    won = session.execute(
        update(QrSignInRequest)
        .where(QrSignInRequest.id == request.id, QrSignInRequest.status.in_(OPEN))
        .values(**values).execution_options(synchronize_session=False)).rowcount
    session.refresh(request)
    if not won:
        return Outcome(request, Refusal.DECIDED)
    if right:
        audit.record(session, "auth:qr:approved", citizen_id=citizen.id, actor_id=citizen.id,
                     ip=ip, client_id=request.client_id,
                     details={"request": request.id.hex, "acr": approver.acr,
                              "same_network": same_network(ip, request.requester_ip)},
                     now=now)
        return Outcome(request)
    reason = Refusal.WRONG_NUMBER if number is not None else Refusal.DENIED
    audit.record(session, "auth:qr:denied", citizen_id=citizen.id, actor_id=citizen.id,
                 outcome="failure" if number is not None else "success", ip=ip,
                 client_id=request.client_id,
                 details={"request": request.id.hex, "reason": str(reason)}, now=now)
    if number is not None:
        throttle.record_failure(session, citizen, kind="qr", ip=ip, now=now)
    return Outcome(request, reason)


# --- the desktop completes ---------------------------------------------------------------------


def complete(session: Session, request_id: uuid.UUID | None, browser_secret: str | None, *,
             ip: str | None, now: datetime) -> Completion | Outcome:
    """Turn an approved request into the citizen, ``amr`` and ``acr`` of the new session, once,
    for the browser that started it. The caller starts the session in the same transaction."""
    request = session.get(QrSignInRequest, request_id) if request_id else None
    if request is None:
        return _refuse_completion(session, None, Refusal.UNKNOWN, ip, now)
    if not browser_secret or not hmac.compare_digest(_hash_browser(browser_secret),
                                                     request.browser_hash):
        return _refuse_completion(session, request, Refusal.OTHER_BROWSER, ip, now)
    if request.status == "used":
        return _refuse_completion(session, request, Refusal.USED, ip, now)
    if now >= request.expires_at:
        return _refuse_completion(session, request, Refusal.EXPIRED, ip, now)
    if request.status == "denied":
        return _refuse_completion(session, request, Refusal.DENIED, ip, now)
    if request.status != "approved":
        return Outcome(request, Refusal.NOT_APPROVED)  # not yet: nothing to record
    citizen = session.get(Citizen, request.approver_citizen_id)
    approver_alive = session.scalar(select(SsoSession.id).where(
        SsoSession.sid == request.approver_sid)) is not None
    if citizen is None or citizen.status != CitizenStatus.ACTIVE or citizen.unlock_required \
            or not approver_alive:
        return _refuse_completion(session, request, Refusal.APPROVER_GONE, ip, now)
    won = session.execute(
        update(QrSignInRequest)
        .where(QrSignInRequest.id == request.id, QrSignInRequest.status == "approved")
        .values(status="used", used_at=now)
        .execution_options(synchronize_session=False)).rowcount
    session.refresh(request)
    if not won:
        return _refuse_completion(session, request, Refusal.USED, ip, now)
    two = request.approver_acr == ACR_TWO_FACTORS
    amr, acr = (["qr", "mfa"], ACR_TWO_FACTORS) if two else (["qr"], ACR_ONE_FACTOR)
    audit.record(session, "auth:qr:completed", citizen_id=citizen.id, actor_id=citizen.id,
                 ip=ip, client_id=request.client_id,
                 details={"request": request.id.hex, "acr": acr,
                          "approver_ip": request.approver_ip}, now=now)
    notify.send_sms(session, phone=citizen.phone, purpose="qr_sign_in",
                    body=sms_body(request, now), citizen_id=citizen.id)
    return Completion(citizen, amr, acr, request.interaction, request)


def _refuse_completion(session: Session, request: QrSignInRequest | None, reason: Refusal,
                       ip: str | None, now: datetime) -> Outcome:
    audit.record(session, "auth:qr:completion_refused", actor_type="anonymous",
                 citizen_id=request.approver_citizen_id if request else None,
                 outcome="failure", ip=ip, client_id=request.client_id if request else None,
                 details={"reason": str(reason),
                          **({"request": request.id.hex} if request else {})}, now=now)
    return Outcome(request, reason)


def sms_body(request: QrSignInRequest, now: datetime) -> str:
    """Vietnamese always (the SMS is read outside any page's language)."""
    when = now.replace(tzinfo=UTC).astimezone(VN_TIME).strftime("%H:%M %d/%m/%Y")
    browser, system = describe_user_agent(request.requester_user_agent)
    device = f"{browser} trên {system}, " if "?" not in (browser, system) else ""
    return (f"Bạn vừa đăng nhập ThaiNguyen ID trên một thiết bị khác bằng mã QR lúc {when} "
            f"({device}địa chỉ IP {request.requester_ip}). Nếu không phải bạn, hãy đổi mật "
            "khẩu và đăng xuất khỏi mọi thiết bị ngay.")


# --- what the phone shows about the desktop ----------------------------------------------------


def _address(ip: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def same_network(a: str | None, b: str | None) -> bool:
    """Same /24 (IPv4) or /48 (IPv6)? Unknown or mixed families count as different: the
    phone then shows the warning, which is the safe side."""
    first, second = _address(a), _address(b)
    if first is None or second is None or first.version != second.version:
        return False
    prefix = 24 if first.version == 4 else 48
    network = ipaddress.ip_network(f"{first}/{prefix}", strict=False)
    return second in network


def is_local(ip: str | None) -> bool:
    """Private or loopback: the phone says "local network" instead of an address."""
    address = _address(ip)
    return address is not None and (address.is_private or address.is_loopback
                                    or address.is_link_local)


_BROWSERS = (("coc_coc_browser", "Cốc Cốc"), ("Edg", "Edge"), ("OPR", "Opera"),
             ("SamsungBrowser", "Samsung Internet"), ("Firefox", "Firefox"),
             ("FxiOS", "Firefox"), ("CriOS", "Chrome"), ("Chrome", "Chrome"),
             ("Chromium", "Chromium"), ("Safari", "Safari"))
_SYSTEMS = (("Windows", "Windows"), ("Android", "Android"), ("iPhone", "iOS"),
            ("iPad", "iPadOS"), ("CrOS", "ChromeOS"), ("Mac OS X", "macOS"),
            ("Macintosh", "macOS"), ("Linux", "Linux"))


def describe_user_agent(user_agent: str | None) -> tuple[str, str]:
    """A rough (browser, system) from the User-Agent, e.g. ("Chrome", "Windows"); "?" when
    unknown. Only to help the citizen recognise their own computer, never for decisions."""
    text = user_agent or ""
    browser = next((name for token, name in _BROWSERS if token in text), "?")
    system = next((name for token, name in _SYSTEMS if token in text), "?")
    return browser, system
