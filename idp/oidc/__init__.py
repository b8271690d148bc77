"""The OpenID Provider: one small module per endpoint, wired to authlib in ``server``."""

from __future__ import annotations

from flask import Blueprint, Flask, g

from idp.extensions import csrf

bp = Blueprint("oidc", __name__)
csrf.exempt(bp)  # clients authenticate themselves; browsers only GET/redirect through here

# Paths whose errors are always JSON (machine-to-machine endpoints).
API_PATHS = ("/token", "/userinfo", "/introspect", "/revoke", "/par", "/register", "/jwks",
             "/.well-known/")


def init_app(app: Flask) -> None:
    from idp.oidc import (  # noqa: F401  (each module registers its routes)
        authorize,
        discovery,
        end_session,
        introspection,
        jwks,
        par,
        registration,
        revocation,
        server,
        token,
        userinfo,
    )

    server.init_app(app)
    if "revocation" not in server.server._endpoints:  # the server outlives one app (tests)
        server.server.register_endpoint(revocation.TokenRevocation)
        server.server.register_endpoint(introspection.TokenIntrospection)
        server.server.register_endpoint(end_session.EndSession)
    if registration.ClientRegistration.ENDPOINT_NAME not in server.server._endpoints:
        server.server.register_endpoint(registration.ClientRegistration)
        server.server.register_endpoint(registration.ClientConfiguration)
    app.register_blueprint(bp)

    @app.teardown_request
    def forget_request_memos(_error: BaseException | None = None) -> None:
        # ``g`` lives as long as the app context, which code outside a served request may
        # keep across requests: a client disabled in between must not stay remembered.
        g.pop("tnid_clients", None)
