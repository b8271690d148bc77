"""Token revocation (RFC 7009) over HTTP, as relying apps call it."""

from __future__ import annotations

import pytest

from tests.support.oidc import register
from tests.support.token_flows import basic, bearer, refresh, secret_post, tokens_for


def revoke(client, rp, **data: str):  # noqa: ANN001, ANN201
    return client.post("/revoke", data=data, headers=basic(rp))


def userinfo_status(client, token: str) -> int:  # noqa: ANN001
    return client.get("/userinfo", headers=bearer(token)).status_code


def active(client, rp, token: str) -> bool:  # noqa: ANN001
    return client.post("/introspect", data={"token": token}, headers=basic(rp)).json["active"]


def test_revoking_the_access_token_ends_it_but_the_refresh_token_still_works(client, rp,
                                                                              tokens):
    response = revoke(client, rp, token=tokens["access_token"], token_type_hint="access_token")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert userinfo_status(client, tokens["access_token"]) == 401
    assert not active(client, rp, tokens["access_token"])
    renewed = refresh(client, rp, tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.json
    assert userinfo_status(client, renewed.json["access_token"]) == 200


def test_revoking_the_refresh_token_ends_the_whole_grant(client, rp, tokens):
    rotated = refresh(client, rp, tokens["refresh_token"]).json
    assert revoke(client, rp, token=rotated["refresh_token"]).status_code == 200
    for access in (tokens["access_token"], rotated["access_token"]):
        assert userinfo_status(client, access) == 401
    failed = refresh(client, rp, rotated["refresh_token"])
    assert failed.status_code == 400 and failed.json["error"] == "invalid_grant"
    assert not active(client, rp, rotated["refresh_token"])


def test_revoking_an_old_rotated_refresh_token_also_ends_the_grant(client, rp, tokens):
    rotated = refresh(client, rp, tokens["refresh_token"]).json
    assert revoke(client, rp, token=tokens["refresh_token"]).status_code == 200
    assert userinfo_status(client, rotated["access_token"]) == 401
    assert refresh(client, rp, rotated["refresh_token"]).status_code == 400


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token"])
def test_unknown_tokens_are_answered_200(client, rp, hint):
    data = {"token": "never-issued"} | ({"token_type_hint": hint} if hint else {})
    response = revoke(client, rp, **data)
    assert response.status_code == 200 and response.json == {}


def test_a_wrong_hint_does_not_hide_the_token(client, rp, tokens):
    assert revoke(client, rp, token=tokens["access_token"],
                  token_type_hint="refresh_token").status_code == 200
    assert userinfo_status(client, tokens["access_token"]) == 401
    assert refresh(client, rp, tokens["refresh_token"]).status_code == 200  # only the access


def test_a_wrong_hint_on_a_refresh_token_still_ends_the_grant(client, rp, tokens):
    assert revoke(client, rp, token=tokens["refresh_token"],
                  token_type_hint="access_token").status_code == 200
    assert refresh(client, rp, tokens["refresh_token"]).status_code == 400
    assert userinfo_status(client, tokens["access_token"]) == 401


@pytest.mark.parametrize("hint", ["id_token", "ACCESS_TOKEN", "x" * 500])
def test_unsupported_hint_is_refused_and_revokes_nothing(client, rp, tokens, hint):
    response = revoke(client, rp, token=tokens["access_token"], token_type_hint=hint)
    assert response.status_code == 400
    assert response.json["error"] == "unsupported_token_type"
    assert userinfo_status(client, tokens["access_token"]) == 200


def test_another_clients_token_is_refused_and_left_alone(app, client, rp, tokens):
    other = register(app, name_vi="Ứng dụng khác")
    for token in (tokens["access_token"], tokens["refresh_token"]):
        response = revoke(client, other, token=token)
        assert response.status_code == 400 and response.json["error"] == "invalid_grant"
    assert userinfo_status(client, tokens["access_token"]) == 200
    assert refresh(client, rp, tokens["refresh_token"]).status_code == 200


def test_public_client_revokes_its_own_tokens_with_its_client_id(app, client, citizen,
                                                                 signing_keys):
    spa = register(app, name_vi="Ứng dụng di động", token_endpoint_auth_method="none")
    tokens = tokens_for(client, spa, citizen.cccd)
    response = client.post("/revoke", data={"token": tokens["refresh_token"],
                                            "client_id": spa.client_id})
    assert response.status_code == 200
    assert userinfo_status(client, tokens["access_token"]) == 401


def test_public_client_without_client_id_is_refused(app, client, citizen, signing_keys):
    spa = register(app, name_vi="Ứng dụng di động", token_endpoint_auth_method="none")
    tokens = tokens_for(client, spa, citizen.cccd)
    response = client.post("/revoke", data={"token": tokens["access_token"]})
    assert response.status_code in (400, 401) and response.json["error"] == "invalid_client"
    assert userinfo_status(client, tokens["access_token"]) == 200


def test_client_secret_post_is_accepted(app, client, citizen, signing_keys):
    poster = register(app, name_vi="Ứng dụng", token_endpoint_auth_method="client_secret_post")
    tokens = tokens_for(client, poster, citizen.cccd, auth=secret_post(poster))
    response = client.post("/revoke", data={"token": tokens["access_token"],
                                            **secret_post(poster)})
    assert response.status_code == 200
    assert userinfo_status(client, tokens["access_token"]) == 401


def test_only_the_registered_authentication_method_is_accepted(client, rp, tokens):
    response = client.post("/revoke", data={"token": tokens["access_token"],
                                            **secret_post(rp)})
    assert response.status_code in (400, 401) and response.json["error"] == "invalid_client"
    assert userinfo_status(client, tokens["access_token"]) == 200


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Basic d3Jvbmc6c2VjcmV0"},          # unknown client
    {"Authorization": "Basic !!!"},                       # not base64
    {"Authorization": "Basic " + "QQ" * 3000},            # oversized
])
def test_bad_client_authentication_is_401_and_revokes_nothing(client, tokens, headers):
    response = client.post("/revoke", data={"token": tokens["access_token"]}, headers=headers)
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
    assert userinfo_status(client, tokens["access_token"]) == 200


def test_wrong_secret_is_401_and_revokes_nothing(client, rp, tokens):
    wrong = type(rp)(rp.client_id, "wrong-secret", rp.redirect_uri)
    response = client.post("/revoke", data={"token": tokens["access_token"]},
                           headers=basic(wrong))
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
    assert userinfo_status(client, tokens["access_token"]) == 200


@pytest.mark.parametrize("data", [{}, {"token": ""}, {"token_type_hint": "access_token"}])
def test_missing_token_is_invalid_request(client, rp, data):
    response = revoke(client, rp, **data)
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_repeated_token_parameter_is_invalid_request(client, rp, tokens):
    response = client.post("/revoke", headers=basic(rp),
                           data={"token": [tokens["access_token"], tokens["refresh_token"]]})
    assert response.status_code == 400 and response.json["error"] == "invalid_request"
    assert userinfo_status(client, tokens["access_token"]) == 200


@pytest.mark.parametrize("kwargs", [
    {"json": {"token": "x"}},
    {"data": "token=x", "content_type": "text/plain"},
    {"data": b"\xff\xfe", "content_type": "application/octet-stream"},
])
def test_a_body_that_is_not_a_form_is_invalid_request(client, rp, tokens, kwargs):
    if "json" in kwargs:
        kwargs = {"json": {"token": tokens["access_token"]}}
    response = client.post("/revoke", headers=basic(rp), **kwargs)
    assert response.status_code == 400 and response.json["error"] == "invalid_request"
    assert userinfo_status(client, tokens["access_token"]) == 200


def test_oversized_token_is_just_unknown(client, rp):
    assert revoke(client, rp, token="x" * 5000).status_code == 200


def test_revoking_twice_is_fine(client, rp, tokens):
    for _ in range(2):
        assert revoke(client, rp, token=tokens["refresh_token"]).status_code == 200


def test_client_credentials_token_can_be_revoked(app, client, signing_keys):
    service = register(app, name_vi="Dịch vụ", grant_types=["authorization_code",
                                                             "client_credentials"])
    token = client.post("/token", data={"grant_type": "client_credentials"},
                        headers=basic(service)).json["access_token"]
    assert active(client, service, token)
    assert revoke(client, service, token=token).status_code == 200
    assert not active(client, service, token)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_wrong_method_is_405_json(client, method):
    response = client.open("/revoke", method=method)
    assert response.status_code == 405 and response.mimetype == "application/json"
    assert response.headers["Allow"] == "POST"
