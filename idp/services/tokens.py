"""Authorization codes, access tokens and refresh tokens: issue, look up, rotate, revoke.

Secrets are random and only their SHA-256 is stored. Single use is enforced with a guarded
UPDATE (``... WHERE used_at IS NULL``): of two concurrent redemptions exactly one changes a
row, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace

from sqlalchemy import (
    LABEL_STYLE_TABLENAME_PLUS_COL,
    bindparam,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as _postgres_insert
from sqlalchemy.dialects.sqlite import insert as _sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from idp.database import PreparedRead, PreparedWrite
from idp.models import AuthorizationCode, Citizen, Client, SessionClient, Token
from idp.models.oauth import CodeView
from idp.services.clock import utcnow


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Lifetimes:
    code: timedelta
    access: timedelta
    refresh_idle: timedelta
    refresh_max: timedelta


# --- authorization codes -----------------------------------------------------------------------


def save_code(session: Session, code: str, **fields: object) -> None:
    # Core insert: nothing reads the row back in this request.
    session.execute(insert(AuthorizationCode.__table__),
                    {"used_at": None, "code_hash": digest(code), **fields})


_codes = AuthorizationCode.__table__
# Prepared: run on the session's connection without SQLAlchemy's per-statement machinery,
# which cost the exchange about as much as SQLite's own work on the UPDATE.
_CLAIM_CODE = PreparedWrite(
    update(_codes)
    .where(_codes.c.code_hash == bindparam("b_code_hash"),
           _codes.c.client_id == bindparam("b_client_id"),
           _codes.c.used_at.is_(None), _codes.c.expires_at > bindparam("b_now"))
    .values(used_at=bindparam("b_now"))
    .returning(*_codes.columns)
)


def redeem_code(session: Session, code: str, client: Client,
                now: datetime) -> CodeView | None:
    """Claim the code for this client, once. A second presentation revokes every token the
    first one produced (RFC 6749 §4.1.2, RFC 9700 §4.2) and returns None.

    The claim is one ``UPDATE ... RETURNING``: the row comes back only to the one caller
    whose update changed it, so of two concurrent exchanges exactly one wins.
    """
    code_hash = digest(code)
    claimed = _CLAIM_CODE.row(session, {"b_code_hash": code_hash,
                                        "b_client_id": client.client_id, "b_now": now})
    if claimed is not None:
        return CodeView(**claimed)
    row = session.scalar(select(AuthorizationCode).where(AuthorizationCode.code_hash == code_hash))
    if row is not None and row.client_id == client.client_id and row.used_at is not None:
        revoke_issued_from_code(session, row.id, now)
    return None


def revoke_issued_from_code(session: Session, code_id: int, now: datetime) -> int:
    families = select(Token.family_id).where(Token.code_id == code_id).scalar_subquery()
    return _revoke(session, Token.family_id.in_(families), now)


def record_session_client(session: Session, sid: str | None, client_id: str,
                          citizen_id: str) -> None:
    """Remember that this app took part in the SSO session (for back-channel logout)."""
    if not sid:
        return
    # One statement, and two nodes recording the same pair at once cannot collide.
    dialect = session.get_bind().dialect.name
    statement = (_sqlite_insert if dialect == "sqlite" else _postgres_insert)(SessionClient)
    session.execute(statement.values(sid=sid, client_id=client_id, citizen_id=citizen_id)
                    .on_conflict_do_nothing(index_elements=["sid", "client_id"]))


# --- tokens ------------------------------------------------------------------------------------


def save_token(
    session: Session,
    token: dict,
    *,
    client: Client,
    citizen_id: uuid.UUID | None,
    now: datetime,
    lifetimes: Lifetimes,
    code: AuthorizationCode | None = None,
    previous: Token | None = None,
) -> None:
    """Store a freshly generated token response; ``previous`` is the rotated refresh token.

    The refresh window slides (idle lifetime from now) but never past the family's absolute
    end. When a refresh asked for a narrower scope, the access token gets that scope while
    the new refresh token keeps the grant's (RFC 6749 §6: "identical to that of the refresh
    token included by the client"): they are then stored as two rows of one family, the
    refresh row with an access token that was never handed out and has already expired.
    """
    refresh = token.get("refresh_token")
    family_expires = (previous.family_expires_at if previous
                      else now + lifetimes.refresh_max if refresh else None)
    source = code or previous
    common = dict(
        client_id=client.client_id, citizen_id=citizen_id, issued_at=now,
        family_id=previous.family_id if previous else uuid.uuid4(),
        family_expires_at=family_expires,
        code_id=code.id if code else (previous.code_id if previous else None),
        sid=source.sid if source else None,
        auth_time=source.auth_time if source else None,
        acr=source.acr if source else None,
        amr=list(source.amr) if source and source.amr is not None else None,
        claims=source.claims if source else None,
    )
    scope = token.get("scope", "")
    refresh_columns = dict(
        refresh_token_hash=digest(refresh) if refresh else None,
        refresh_expires_at=(min(now + lifetimes.refresh_idle, family_expires)
                            if refresh and family_expires else None),
    )
    access_expires = now + timedelta(seconds=int(token["expires_in"]))
    rows = []
    if refresh and previous is not None and scope != previous.scope:
        rows.append(dict(scope=previous.scope,
                         access_token_hash=digest(secrets.token_urlsafe(32)),
                         access_expires_at=now, **refresh_columns, **common))
        refresh_columns = dict(refresh_token_hash=None, refresh_expires_at=None)
    rows.append(dict(scope=scope, access_token_hash=digest(token["access_token"]),
                     access_expires_at=access_expires, **refresh_columns, **common))
    # Nothing reads these rows back in this request: a prepared insert on the session's own
    # connection, without the ORM's unit of work or SQLAlchemy's per-statement machinery.
    for row in rows:
        _INSERT_TOKEN.first(session, _with_defaults(row))


def _with_defaults(values: dict) -> dict:
    return {"revoked_at": None, "refresh_used_at": None, **values}


# Every column ``save_token`` writes (each row gives all of them); the id is the database's.
_INSERT_TOKEN = PreparedWrite(insert(Token.__table__), columns=[
    "client_id", "citizen_id", "issued_at", "family_id", "family_expires_at", "code_id", "sid",
    "auth_time", "acr", "amr", "claims", "scope", "access_token_hash", "access_expires_at",
    "refresh_token_hash", "refresh_expires_at", "revoked_at", "refresh_used_at"])


def find_access_token(session: Session, access_token: str) -> Token | None:
    return session.scalar(select(Token).where(Token.access_token_hash == digest(access_token)))


def find_refresh_token(session: Session, refresh_token: str) -> Token | None:
    return session.scalar(select(Token).where(Token.refresh_token_hash == digest(refresh_token)))


_SPEND_REFRESH = (
    update(Token.__table__)
    .where(Token.__table__.c.id == bindparam("b_id"),
           Token.__table__.c.refresh_used_at.is_(None), Token.__table__.c.revoked_at.is_(None),
           Token.__table__.c.refresh_expires_at > bindparam("b_now"))
    .values(refresh_used_at=bindparam("b_now"))
)


def claim_refresh_token(session: Session, row: TokenView, now: datetime) -> TokenView | None:
    """Use a refresh token (found with ``read_token``) once. Presenting one already
    used is treated as theft: the whole family is revoked (RFC 9700 §4.14.2) and None
    returned. Of two concurrent uses the guarded UPDATE lets one through; the other finds it
    used and revokes the family."""
    claimed = session.execute(_SPEND_REFRESH, {"b_id": row.id, "b_now": now}).rowcount
    if claimed == 1:
        row.refresh_used_at = now
        return row
    # Why not: used (theft, or a concurrent use that won), revoked or expired — look again.
    used = session.execute(select(Token.refresh_used_at).where(Token.id == row.id)).scalar()
    if used is not None:
        revoke_family(session, row.family_id, now)
    return None


def revoke_family(session: Session, family_id: uuid.UUID, now: datetime) -> int:
    return _revoke(session, Token.family_id == family_id, now)


def revoke_token(session: Session, row: Token, now: datetime, *, whole_grant: bool) -> None:
    """RFC 7009: revoking a refresh token revokes its grant; an access token only itself."""
    if whole_grant:
        revoke_family(session, row.family_id, now)
    elif row.refresh_token_hash is None:
        row.revoked_at = row.revoked_at or now
    else:  # the row also holds a live refresh token: end only the access token
        row.access_expires_at = min(row.access_expires_at, now)


def revoke_for_citizen(session: Session, citizen_id: uuid.UUID, now: datetime) -> int:
    return _revoke(session, Token.citizen_id == citizen_id, now)


def revoke_for_sid(session: Session, sid: str, now: datetime) -> int:
    """Sign-out ends the tokens of that session, except offline (refresh) grants the citizen
    gave for use while away."""
    return _revoke(session, (Token.sid == sid) & or_(Token.refresh_token_hash.is_(None),
                                                     ~Token.scope.contains("offline_access")),
                   now)


def end_access_for_sid(session: Session, sid: str, now: datetime) -> int:
    """The offline grants sign-out keeps: their access tokens end now, their refresh tokens
    live on."""
    live = (Token.sid == sid) & Token.revoked_at.is_(None) & (Token.access_expires_at > now)
    return _update_locked(session, live, {"access_expires_at": now})


def revoke_for_client(session: Session, client_id: str, now: datetime) -> int:
    return _revoke(session, Token.client_id == client_id, now)


def lock_for_sid(session: Session, sid: str) -> None:
    """Lock a session's token rows, in id order, before changing them in several statements
    (sign-out revokes some and ends the access of others): each statement alone locks in id
    order, two of them in a row would not."""
    _lock(session, Token.sid == sid)


def lock_for_citizen(session: Session, citizen_id: uuid.UUID) -> None:
    """The same for all of a citizen's rows, before ending every session and grant."""
    _lock(session, Token.citizen_id == citizen_id)


def _lock(session: Session, where: object) -> None:
    if session.get_bind().dialect.name != "sqlite":  # SQLite: one writer, no row locks
        session.execute(select(Token.id).where(where).order_by(Token.id).with_for_update())


def _revoke(session: Session, where: object, now: datetime) -> int:
    return _update_locked(session, where & Token.revoked_at.is_(None), {"revoked_at": now})


def _locked_ids(where: object) -> object:
    # Rows are locked in id order before they are changed: a plain UPDATE or DELETE locks them
    # in scan order, and two changes of one family (a reused refresh token raced by two
    # requests, a sign-out during a revocation) then deadlock on PostgreSQL. SQLite has one
    # writer and ignores FOR UPDATE.
    return (select(Token.id).where(where).order_by(Token.id).with_for_update()
            .scalar_subquery())


def _update_locked(session: Session, where: object, values: dict) -> int:
    result = session.execute(
        update(Token).where(Token.id.in_(_locked_ids(where)), where).values(**values)
        .execution_options(synchronize_session=False))
    return result.rowcount or 0


def is_active(row: Token, now: datetime) -> bool:
    return row.revoked_at is None and row.access_expires_at > now


# --- read-only fast path -------------------------------------------------------------------------

_tokens, _clients, _citizens = Token.__table__, Client.__table__, Citizen.__table__


@dataclass(frozen=True)
class _View:
    """A prepared read of a token with the columns of its client and citizen one caller
    needs: fewer columns, fewer JSON, UUID and datetime decodes on the hottest endpoints."""

    by_hash: dict[str, object]  # token kind -> SELECT statement
    keys: dict[str, list[tuple[str, str]]]  # table -> [(result label, attribute)]
    reads: dict[str, PreparedRead]  # token kind -> the statement, compiled once per dialect


def _view(token: tuple[str, ...], client: tuple[str, ...], citizen: tuple[str, ...]) -> _View:
    # The citizen's id is the token's citizen_id; status (never NULL) says a row was joined.
    columns = (*(_tokens.c[n] for n in ("client_id", "citizen_id", *token)),
               *(_clients.c[n] for n in ("client_id", "disabled_at", *client)),
               *(_citizens.c[n] for n in ("status", *citizen)))

    def select_by(hash_column: object) -> object:
        return (select(*columns)
                .join(_clients, _clients.c.client_id == _tokens.c.client_id)
                .outerjoin(_citizens, _citizens.c.id == _tokens.c.citizen_id)
                .where(hash_column == bindparam("digest"))
                .set_label_style(LABEL_STYLE_TABLENAME_PLUS_COL))

    keys = {table.name: [(f"{c.table.name}_{c.name}", c.name) for c in columns
                         if c.table is table] for table in (_tokens, _clients, _citizens)}
    by_hash = {"access_token": select_by(_tokens.c.access_token_hash),
               "refresh_token": select_by(_tokens.c.refresh_token_hash)}
    return _View(by_hash, keys, {kind: PreparedRead(s) for kind, s in by_hash.items()})


_SUBJECT = ("subject_type", "sector_identifier")  # what ``claims.subject`` reads of a client
_PERSONAL = ("full_name", "birthdate", "gender", "phone", "email", "commune_code", "cccd",
             "identity_level", "updated_at")
VIEWS = {
    # The refresh grant: everything a rotated token carries over, and the ID token's claims.
    "grant": _view(("id", "scope", "claims", "issued_at", "access_expires_at",
                    "refresh_expires_at", "refresh_used_at", "revoked_at", "family_id",
                    "family_expires_at", "code_id", "sid", "auth_time", "acr", "amr"),
                   (*_SUBJECT, "id_token_signed_response_alg"), _PERSONAL),
    # UserInfo: the claims, never the refresh or family columns.
    "userinfo": _view(("scope", "claims", "access_expires_at", "revoked_at"),
                      _SUBJECT, _PERSONAL),
    # Introspection: lifetimes and authentication facts, no personal data at all.
    "introspection": _view(("scope", "issued_at", "access_expires_at", "refresh_expires_at",
                            "refresh_used_at", "revoked_at", "auth_time", "acr"),
                           _SUBJECT, ()),
}


class TokenView(SimpleNamespace):
    """A token, read only, with ``client`` and ``citizen`` as plain attribute bags. Building
    ORM objects costs more than the query itself on the hottest endpoints."""

    def is_expired(self) -> bool:
        return self.access_expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def get_scope(self) -> str:
        return self.scope

    def get_user(self) -> SimpleNamespace | None:
        return self.citizen

    def get_client(self) -> SimpleNamespace:
        return self.client

    def check_client(self, client: Client) -> bool:
        return self.client_id == client.client_id


def _columns(mapping: object, keys: list[tuple[str, str]]) -> dict:
    return {name: mapping[label] for label, name in keys}


def read_token(session: Session | Connection, token: str, kind: str = "access_token",
               view: str = "grant") -> TokenView | None:
    """The token with its client and citizen (the columns ``view`` needs), for code that only
    reads: one Core query, no ORM objects. A plain ``Connection`` works too, so userinfo and
    introspection can skip creating an ORM session altogether."""
    prepared = VIEWS[view]
    row = prepared.reads[kind].first(session, {"digest": digest(token)})
    return None if row is None else _token_view(row, prepared)


def _token_view(mapping: object, prepared: _View) -> TokenView:
    keys = prepared.keys
    citizen = None
    if mapping["citizens_status"] is not None:
        citizen = SimpleNamespace(id=mapping["tokens_citizen_id"],
                                  **_columns(mapping, keys["citizens"]))
    return TokenView(**_columns(mapping, keys["tokens"]),
                     client=SimpleNamespace(**_columns(mapping, keys["clients"])),
                     citizen=citizen)


def client_with_access_token(client_columns: list, view: str = "introspection") -> object:
    """A statement for an enabled client (``client_columns``) and, if the client has one, its
    access token whose hash is ``digest`` (``view``'s columns): what an endpoint that
    authenticates a client and then looks up one of its tokens reads, in one round trip.
    Another client's token is never joined."""
    prepared = VIEWS[view]
    # The token's own client is this client: its columns the view needs are read once.
    wanted = {c.name for c in client_columns}
    token_side = [c for c in prepared.by_hash["access_token"].selected_columns
                  if c.table is not _clients or c.name not in wanted]
    joined = (_clients
              .outerjoin(_tokens, (_tokens.c.client_id == _clients.c.client_id)
                         & (_tokens.c.access_token_hash == bindparam("digest")))
              .outerjoin(_citizens, _citizens.c.id == _tokens.c.citizen_id))
    return (select(*client_columns, *token_side).select_from(joined)
            .where(_clients.c.client_id == bindparam("client_id"),
                   _clients.c.disabled_at.is_(None))
            .set_label_style(LABEL_STYLE_TABLENAME_PLUS_COL))


def access_token_of(mapping: object, view: str = "introspection") -> TokenView | None:
    """The token part of a ``client_with_access_token`` row, None when no token matched."""
    if mapping["tokens_client_id"] is None:
        return None
    return _token_view(mapping, VIEWS[view])
