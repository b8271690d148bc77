"""The consent screen: exactly which personal data the app will receive, with the citizen's
own values, in Vietnamese first; remembered per app and set of data; trusted first-party apps
skip it but the agreement is still recorded."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import Consent
from idp.services import clients
from idp.services.clock import utcnow
from tests.support.authorize import (
    at_app,
    follow,
    go,
    is_consent,
    issuer,
    leaves_for,
    submit,
    through,
)
from tests.support.oidc import App, register

LOGO = "https://portal.example.vn/static/logo.png"


@pytest.fixture
def rp(app) -> App:  # noqa: ANN001
    return register(app, logo_uri=LOGO)


@pytest.fixture
def citizen(make_citizen):  # noqa: ANN001, ANN201
    return make_citizen(email="an.nguyen@example.vn")


@pytest.fixture
def signed_in(auth, citizen) -> None:  # noqa: ANN001
    auth.login(citizen.cccd)


def shared_data(page: str) -> list[tuple[str, str]]:
    """(label, value) of every item in the page's list of data the app will receive."""
    block = re.search(r'<ul class="data-list" id="shared-data">(.*?)</ul>', page, re.S)
    assert block, "no list of shared data"
    items = re.findall(r'<span class="data-label">(.*?)</span> <span class="data-value">(.*?)'
                       r'</span>', block.group(1), re.S)
    return [(html.unescape(label), html.unescape(value)) for label, value in items]


def consents(app) -> list[Consent]:  # noqa: ANN001
    with app.app_context():
        rows = list(db.session.scalars(select(Consent)))
        db.session.expunge_all()
        return rows


def test_page_lists_exactly_the_data_of_the_scopes_in_vietnamese(client, rp, signed_in,
                                                                  citizen):
    page = follow(client, go(client, rp, scope="openid profile citizen phone"), rp)
    assert is_consent(page) and '<html lang="vi">' in page.text
    items = dict(shared_data(page.text))
    assert items["Họ và tên"] == "Nguyễn Văn An"
    assert items["Ngày sinh"] == "12/03/1985"
    assert items["Số CCCD (căn cước công dân)"] == citizen.cccd
    assert items["Số điện thoại"] == "0" + citizen.phone[3:]
    assert items["Mức xác minh danh tính"]
    assert len(items) == 6  # name, birth date, gender, CCCD, identity level, phone
    assert citizen.email not in page.text  # email was not asked for


def test_page_shows_only_what_a_narrow_request_releases(client, rp, signed_in, citizen):
    page = follow(client, go(client, rp, scope="openid phone"), rp)
    assert shared_data(page.text) == [("Số điện thoại", "0" + citizen.phone[3:])]
    assert citizen.cccd not in page.text and "Nguyễn Văn An" not in page.text.split(
        'id="shared-data"')[1].split("</ul>")[0]


def test_page_shows_email_and_commune_when_asked(client, rp, signed_in, citizen):
    page = follow(client, go(client, rp, scope="openid email address"), rp)
    items = dict(shared_data(page.text))
    assert items["Email"] == citizen.email
    assert list(items) == ["Email", "Xã/phường"]


def test_openid_alone_shares_no_personal_data(client, rp, signed_in):
    page = follow(client, go(client, rp, scope="openid"), rp)
    assert is_consent(page) and shared_data(page.text) == []


def test_page_names_the_app_with_its_logo(client, rp, signed_in):
    page = follow(client, go(client, rp), rp)
    assert "Cổng dịch vụ công" in page.text and "portal.example.vn" in page.text
    assert f'src="{LOGO}"' in page.text


def test_page_in_english(client, rp, signed_in, citizen):
    page = follow(client, go(client, rp, scope="openid profile phone", ui_locales="en"), rp)
    items = dict(shared_data(page.text))
    assert items["Full name"] == "Nguyễn Văn An" and items["Date of birth"] == "12/03/1985"
    assert items["Phone number"] == "0" + citizen.phone[3:]
    assert "wants to use your information" in page.text


def test_allow_issues_a_code_and_is_recorded(app, client, rp, signed_in):
    page = follow(client, go(client, rp, state="s-1", scope="openid profile phone"), rp)
    got = at_app(follow(client, submit(client, page, decision="allow"), rp), rp)
    assert "code" in got and (got["state"], got["iss"]) == ("s-1", issuer(client))
    [consent] = consents(app)
    assert consent.client_id == rp.client_id and not consent.implicit
    assert consent.scopes == ["openid", "phone", "profile"]


def test_deny_is_access_denied_and_records_nothing(app, client, rp, signed_in):
    page = follow(client, go(client, rp, state="s-2"), rp)
    got = at_app(follow(client, submit(client, page, decision="deny"), rp), rp)
    assert (got["error"], got["state"], got["iss"]) == ("access_denied", "s-2", issuer(client))
    assert consents(app) == []


def test_consent_is_remembered_and_new_scopes_ask_again(client, rp, signed_in):
    assert "code" in through(client, go(client, rp, scope="openid profile"), rp)
    assert "code" in at_app(go(client, rp, scope="openid profile"), rp)  # no screen
    assert "code" in at_app(go(client, rp, scope="openid"), rp)  # less: no screen either
    page = follow(client, go(client, rp, scope="openid profile phone"), rp)
    assert is_consent(page)  # more data: asked again
    assert "code" in at_app(follow(client, submit(client, page, decision="allow"), rp), rp)
    assert "code" in at_app(go(client, rp, scope="openid phone profile"), rp)


def test_consent_is_per_app(app, client, rp, signed_in):
    through(client, go(client, rp), rp)
    other = register(app, name_vi="Sàn thương mại")
    assert is_consent(follow(client, go(client, other), other))


def test_trusted_app_skips_the_screen_but_the_consent_is_recorded(app, client, signed_in):
    rp = register(app, trusted=True)
    got = at_app(go(client, rp, scope="openid profile"), rp)
    assert "code" in got
    [consent] = consents(app)
    assert (consent.client_id, consent.implicit, consent.scopes) == (
        rp.client_id, True, ["openid", "profile"])
    first_update = consent.updated_at
    assert "code" in at_app(go(client, rp, scope="openid profile"), rp)
    assert consents(app)[0].updated_at == first_update  # nothing rewritten on the hot path
    assert "code" in at_app(go(client, rp, scope="openid profile phone", prompt="none"), rp)
    assert consents(app)[0].scopes == ["openid", "phone", "profile"]


def test_trusted_app_asking_prompt_consent_gets_the_screen(app, client, signed_in):
    rp = register(app, trusted=True)
    page = follow(client, go(client, rp, prompt="consent"), rp)
    assert is_consent(page)


def test_consent_post_needs_csrf(app, client, rp, signed_in):
    page = follow(client, go(client, rp), rp)
    for data in ({"decision": "allow"}, {"decision": "allow", "csrf_token": "forged"}):
        response = client.post(page.request.url, data=data)
        assert response.status_code == 400 and not leaves_for(response, rp)
        assert "Location" not in response.headers
    assert consents(app) == []


def test_consent_page_without_a_session_sends_to_sign_in(client, rp, auth, signed_in):
    page = follow(client, go(client, rp), rp)
    auth.logout()
    response = client.get(page.request.url)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?")


def test_consent_for_an_app_disabled_meanwhile_gets_a_page(app, client, rp, signed_in):
    page = follow(client, go(client, rp), rp)
    with app.app_context():
        clients.disable_client(db.session, clients.find_client(db.session, rp.client_id),
                               utcnow())
        db.session.commit()
    response = submit(client, page, decision="allow")
    assert response.status_code == 400 and "Location" not in response.headers
    assert consents(app) == []
