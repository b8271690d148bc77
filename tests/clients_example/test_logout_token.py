"""The example apps' back-channel logout token validation (Back-Channel Logout 1.0 §2.6):
only a token signed by the provider, for this app, shaped like a logout token passes."""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from clients_example.common import logout_token
from clients_example.common.logout_token import BACKCHANNEL_LOGOUT_EVENT, InvalidLogoutToken

ISSUER = "http://127.0.0.1:5000"
CLIENT = "tnid-demo-market"
PROVIDER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256"}, private=True)
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256"}, private=True)
EC_KEY = ECKey.generate_key("P-256", parameters={"kid": "e1", "alg": "ES256"}, private=True)


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": CLIENT, "iat": now, "exp": now + 120, "jti": "j-1",
            "sub": "s-1", "sid": "sid-1", "events": {BACKCHANNEL_LOGOUT_EVENT: {}}}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: RSAKey | ECKey = PROVIDER_KEY, alg: str = "RS256",
         typ: str | None = "logout+jwt") -> str:
    header = {"alg": alg, "kid": key.kid} | ({"typ": typ} if typ else {})
    return jwt.encode(header, payload, key)


def published(*keys: RSAKey | ECKey) -> dict:
    return KeySet(list(keys)).as_dict(private=False)


def check(token: object, keys: dict | None = None) -> dict:
    jwks = keys or published(PROVIDER_KEY)
    return logout_token.validate(token, fetch_keys=lambda force: jwks, issuer=ISSUER,
                                 client_id=CLIENT, algorithms=["RS256", "ES256"])


def test_a_valid_token_passes():
    assert check(sign(claims()))["sid"] == "sid-1"
    assert check(sign(claims(aud=[CLIENT, "other"])))["sub"] == "s-1"
    assert check(sign(claims(sid=None)))["sub"] == "s-1"  # sub alone is enough (§2.4)
    assert check(sign(claims(sub=None)))["sid"] == "sid-1"
    es = sign(claims(), EC_KEY, "ES256")
    assert check(es, published(PROVIDER_KEY, EC_KEY))


@pytest.mark.parametrize("token", [
    sign(claims(), OTHER_KEY),  # same kid, another key: signature does not verify
    sign(claims(), EC_KEY, "ES256"),  # a key the provider never published
], ids=["bad-signature", "unknown-key"])
def test_bad_signature_is_refused(token):
    with pytest.raises(InvalidLogoutToken, match="signature"):
        check(token)


def test_tampered_payload_and_alg_none_are_refused():
    header, payload, signature = sign(claims()).split(".")
    forged = sign(claims(sid="someone-else")).split(".")[1]
    with pytest.raises(InvalidLogoutToken):
        check(f"{header}.{forged}.{signature}" if forged != payload else "x.y.z")
    unsigned = "eyJhbGciOiJub25lIn0." + payload + "."
    with pytest.raises(InvalidLogoutToken):
        check(unsigned)


@pytest.mark.parametrize(("changes", "reason"), [
    ({"aud": "tnid-demo-portal"}, "aud"),
    ({"aud": ["a", "b"]}, "aud"),
    ({"aud": None}, "aud"),
    ({"iss": "http://127.0.0.1:5999"}, "iss"),
    ({"iss": None}, "iss"),
    ({"events": None}, "events"),
    ({"events": {"http://schemas.openid.net/event/other": {}}}, "events"),
    ({"events": {BACKCHANNEL_LOGOUT_EVENT: "yes"}}, "events"),
    ({"nonce": "n-1"}, "nonce"),
    ({"jti": None}, "jti"),
    ({"jti": ""}, "jti"),
    ({"iat": None}, "iat"),
    ({"iat": int(time.time()) - 3600}, "iat"),
    ({"iat": int(time.time()) + 3600}, "iat"),
    ({"exp": int(time.time()) - 3600}, "expired"),
    ({"sid": None, "sub": None}, "neither"),
    ({"sid": 5}, "sid"),
])
def test_claims_that_are_not_a_logout_token_for_this_app_are_refused(changes, reason):
    with pytest.raises(InvalidLogoutToken, match=reason):
        check(sign(claims(**changes)))


def test_an_id_token_typ_is_refused():
    with pytest.raises(InvalidLogoutToken, match="typ"):
        check(sign(claims(), typ="JWT"))


@pytest.mark.parametrize("token", [None, "", 5, "a" * (logout_token.MAX_TOKEN_LENGTH + 1),
                                   "not-a-jwt", "a.b.c"])
def test_garbage_is_refused(token):
    with pytest.raises(InvalidLogoutToken):
        check(token)


def test_an_unknown_kid_fetches_the_keys_again():
    """The provider rotated its keys after the app cached them: one forced refetch."""
    new_key = RSAKey.generate_key(2048, parameters={"kid": "k2", "alg": "RS256"}, private=True)
    calls: list[bool] = []

    def fetch(force: bool) -> dict:
        calls.append(force)
        return published(PROVIDER_KEY, new_key) if force else published(PROVIDER_KEY)

    token = sign(claims(), new_key)
    assert logout_token.validate(token, fetch_keys=fetch, issuer=ISSUER, client_id=CLIENT,
                                 algorithms=["RS256"])["jti"] == "j-1"
    assert calls == [False, True]
