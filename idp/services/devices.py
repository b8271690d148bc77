"""Browsers a citizen has signed in from ("known devices").

A browser gets a long-lived random device cookie (256 bits; only its SHA-256 is stored, in
``known_devices``, one row per citizen and browser). It serves two things:

- a sign-in from a browser that is new *for this citizen* is told to the citizen by SMS
  ("... vừa được đăng nhập trên thiết bị mới: Chrome trên Windows, lúc 14:05 22/11/2026");
  the very first sign-in of an account (no device at all yet: right after registration) is
  only recorded;
- a known device is throttled on its own counter (``services.throttle``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.models import Citizen, KnownDevice

LOCAL_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
MAX_TOKEN_LENGTH = 64
# Writing last_seen on every sign-in is cheap, but a day's precision is all anyone reads.
TOUCH_INTERVAL = timedelta(hours=1)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def valid_token(token: str | None) -> str | None:
    """The cookie's value if it can be one of ours (43 URL-safe characters), else None."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not re.fullmatch(r"[A-Za-z0-9_-]{43}",
                                                                       token):
        return None
    return token


def find(session: Session, citizen_id: uuid.UUID, token: str | None) -> KnownDevice | None:
    token = valid_token(token)
    if token is None:
        return None
    return session.scalar(select(KnownDevice).where(
        KnownDevice.citizen_id == citizen_id, KnownDevice.device_hash == token_hash(token)))


@dataclass(frozen=True)
class Seen:
    device: KnownDevice
    new: bool        # first sign-in of this citizen from this browser
    notified: bool   # the citizen was sent an SMS about it

    @property
    def audit_details(self) -> dict[str, object]:
        return {"new_device": self.new, "device_notified": self.notified,
                "device": describe(self.device.user_agent)}


def signed_in(session: Session, citizen: Citizen, token: str, *, user_agent: str, ip: str,
              now: datetime, known: KnownDevice | None = None, fresh: bool = False,
              notify_new: bool = True) -> Seen:
    """Record a successful sign-in from the browser holding ``token`` (flushed, not committed);
    tell the citizen by SMS when the browser is new and the account already had devices.
    ``known``: the row already found for this browser; ``fresh``: ``token`` was just made, so
    no row can exist (each saves a query); ``notify_new``: False when the sign-in sends its
    own notice (QR sign-in), so the citizen gets one text, not two. The caller's sign-in
    audit entry records ``Seen`` (one entry per sign-in, not two)."""
    row = known if known is not None or fresh else find(session, citizen.id, token)
    if row is not None:
        if now - row.last_seen_at >= TOUCH_INTERVAL:
            row.last_seen_at, row.ip = now, ip[:45]
            row.user_agent = (user_agent or "")[:255]
        return Seen(row, new=False, notified=False)
    had_devices = session.scalar(
        select(KnownDevice.id).where(KnownDevice.citizen_id == citizen.id).limit(1)) is not None
    row = KnownDevice(citizen_id=citizen.id, device_hash=token_hash(token),
                      user_agent=(user_agent or "")[:255], ip=ip[:45], first_seen_at=now,
                      last_seen_at=now)
    session.add(row)
    session.flush()
    label = describe(user_agent)
    notified = had_devices and bool(citizen.phone) and notify_new
    if notified:
        from idp import notify

        notify.send_sms(session, phone=citizen.phone, purpose="new_device",
                        citizen_id=citizen.id, body=new_device_sms(label, now))
    return Seen(row, new=True, notified=notified)


def new_device_sms(label: str, now: datetime) -> str:
    return (f"ThaiNguyen ID: Tài khoản ThaiNguyen ID của bạn vừa được đăng nhập trên thiết bị "
            f"mới: {label}, lúc {local_time(now)}. Nếu không phải bạn, hãy đổi mật khẩu ngay "
            "(trang Đăng nhập, mục \"Quên mật khẩu\").")


def local_time(now: datetime) -> str:
    """A stored (naive UTC) time as citizens read it: "14:05 22/11/2026", Vietnam time."""
    return now.replace(tzinfo=UTC).astimezone(LOCAL_ZONE).strftime("%H:%M %d/%m/%Y")


# Most specific first: many browsers also say "Chrome" or "Safari" in their User-Agent.
_BROWSERS = (
    ("coc_coc", "Cốc Cốc"), ("edg", "Edge"), ("opr/", "Opera"), ("opera", "Opera"),
    ("samsungbrowser", "Samsung Internet"), ("zalo", "Zalo"), ("fban", "Facebook"),
    ("fbav", "Facebook"), ("ucbrowser", "UC Browser"), ("firefox", "Firefox"),
    ("fxios", "Firefox"), ("crios", "Chrome"), ("chromium", "Chromium"), ("chrome", "Chrome"),
    ("safari", "Safari"),
)
_SYSTEMS = (
    ("windows", "Windows"), ("android", "Android"), ("iphone", "iPhone"), ("ipad", "iPad"),
    ("cros", "ChromeOS"), ("mac os x", "macOS"), ("macintosh", "macOS"), ("linux", "Linux"),
)


def describe(user_agent: str | None) -> str:
    """"Chrome trên Windows" from a User-Agent string; "thiết bị không rõ" when unknown."""
    ua = (user_agent or "")[:512].lower()
    browser = next((name for marker, name in _BROWSERS if marker in ua), None)
    system = next((name for marker, name in _SYSTEMS if marker in ua), None)
    if browser and system:
        return f"{browser} trên {system}"
    return browser or system or "thiết bị không rõ"
