"""OpenID Connect on top of the code and refresh grants: the ID token (OIDC Core §3.1.3.6,
§12.2) and nonce replay detection."""

from __future__ import annotations

from authlib.oidc.core import OpenIDCode
from authlib.oidc.core.grants.util import is_openid_scope
from flask_babel import get_locale
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuthorizationCode, Citizen, Client
from idp.oidc import context
from idp.services import claims, id_tokens
from idp.services.clock import utcnow
from idp.web import deps


def build_id_token(citizen: Citizen, client: Client, token: dict, facts: object,
                   nonce: str | None) -> str:
    """``facts`` is the code or the refresh token row: auth_time, acr, amr, sid, claims."""
    extra = {}
    if claims.requested(facts.claims, "id_token"):  # the locale is only needed then
        extra = claims.id_token_claims(citizen, token.get("scope", ""), facts.claims,
                                       str(get_locale() or "vi"))
    return id_tokens.id_token(
        context.signer(),
        sub=claims.subject(citizen.id, client, context.pairwise_secret()),
        client_id=client.client_id, alg=client.id_token_signed_response_alg, now=utcnow(),
        lifetime_seconds=deps.settings().id_token_lifetime_seconds,
        auth_time=facts.auth_time, acr=facts.acr, amr=facts.amr, sid=facts.sid,
        nonce=nonce, access_token=token.get("access_token"), extra=extra,
    )


class OpenIDCodeExtension(OpenIDCode):
    def exists_nonce(self, nonce: str, request) -> bool:  # noqa: ANN001
        """A nonce already bound to a code of this client is a replayed request."""
        return db.session.scalar(
            select(AuthorizationCode.id).where(
                AuthorizationCode.client_id == request.payload.client_id,
                AuthorizationCode.nonce == nonce,
            ).limit(1)
        ) is not None

    def encode_id_token(self, token: dict, request) -> str:  # noqa: ANN001
        code = request.authorization_code
        return build_id_token(request.user, request.client, token, code, code.nonce)


class OpenIDRefreshExtension:
    """Return a fresh ID token on refresh when the grant is an OpenID one (OIDC Core §12.2):
    same ``sub``, ``sid``, ``auth_time`` and ``acr`` as the first; no ``nonce``."""

    def __call__(self, grant) -> None:  # noqa: ANN001
        grant.register_hook("after_create_token_response", self.process_token)

    def process_token(self, grant, response) -> dict:  # noqa: ANN001
        _, token, _ = response
        if is_openid_scope(token.get("scope")):
            request = grant.request
            token["id_token"] = build_id_token(request.user, request.client, token,
                                               request.refresh_token, None)
        return token
