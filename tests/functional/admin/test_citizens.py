"""The console's citizens search and detail page: who sees what (officer: their communes only,
403 + audit entry otherwise; auditor: everything, no actions), the free-text box, filters,
pages."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent
from tests.functional.admin.conftest import PHAN_DINH_PHUNG, SANG_MOC

StaffClient = Callable[..., FlaskClient]


def test_search_page_needs_sign_in(client: FlaskClient):
    response = client.get("/admin/citizens")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_search_by_name_cccd_and_phone(staff_client: StaffClient, make_citizen):
    anh = make_citizen(full_name="Nguyễn Văn Ánh", phone="0912 000 111")
    make_citizen(full_name="Trần Thị Bình")
    browser = staff_client("officer", [SANG_MOC])
    page = browser.get("/admin/citizens?q=nguyen+van+a").get_data(as_text=True)
    assert "Nguyễn Văn Ánh" in page and "Trần Thị Bình" not in page
    assert f"/admin/citizens/{anh.id}" in page
    page = browser.get(f"/admin/citizens?q={anh.cccd}").get_data(as_text=True)
    assert "Nguyễn Văn Ánh" in page and "Trần Thị Bình" not in page
    page = browser.get("/admin/citizens?q=%2B84+912+000+111").get_data(as_text=True)
    assert "Nguyễn Văn Ánh" in page
    response = browser.get("/admin/citizens?q=12345")
    assert response.status_code == 400 and 'id="search-error"' in response.get_data(as_text=True)
    response = browser.get("/admin/citizens?q=zzz")
    assert response.status_code == 200 and 'id="no-results"' in response.get_data(as_text=True)


def test_officer_never_finds_other_communes(staff_client: StaffClient, make_citizen):
    other = make_citizen(full_name="Lý Văn Khác", commune_code=PHAN_DINH_PHUNG)
    browser = staff_client("officer", [SANG_MOC])
    for query in ("ly+van", other.cccd, other.phone.replace("+", "%2B"),
                  f"&commune={PHAN_DINH_PHUNG}"):
        page = browser.get(f"/admin/citizens?q={query}").get_data(as_text=True)
        assert "Lý Văn Khác" not in page, query
    # The commune filter only offers the officer's communes.
    page = browser.get("/admin/citizens").get_data(as_text=True)
    assert f'value="{SANG_MOC}"' in page and f'value="{PHAN_DINH_PHUNG}"' not in page


def test_filters_and_next_page(staff_client: StaffClient, make_citizen):
    for i in range(27):
        make_citizen(full_name=f"Đặng Văn {'ABCDEGHKLMNOPQRSTUVXY'[i % 21]}{'a' * (i // 21)}")
    make_citizen(full_name="Đặng Thị Mức Hai", identity_level=2)
    browser = staff_client("superadmin")
    page = browser.get("/admin/citizens?q=dang&level=2").get_data(as_text=True)
    assert len(re.findall(r"/admin/citizens/[0-9a-f-]{36}\"", page)) == 1
    first = browser.get("/admin/citizens?q=dang").get_data(as_text=True)
    assert 'id="next-page"' in first
    link = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = browser.get(link).get_data(as_text=True)
    assert 'id="next-page"' not in second and 'id="first-page"' in second
    names = set(re.findall(r'/admin/citizens/([0-9a-f-]{36})"', first + second))
    assert len(names) == 28


def test_detail_page(staff_client: StaffClient, make_citizen):
    citizen = make_citizen(full_name="Hà Thị Lan", email="lan@example.vn")
    browser = staff_client("officer", [SANG_MOC])
    response = browser.get(f"/admin/citizens/{citizen.id}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Hà Thị Lan" in page and citizen.cccd in page and "lan@example.vn" in page
    assert 'id="citizen-actions"' in page and "/lock" in page


def test_officer_of_another_commune_gets_403_and_an_audit_entry(
        app: Flask, staff_client: StaffClient, make_citizen):
    citizen = make_citizen(commune_code=PHAN_DINH_PHUNG)
    browser = staff_client("officer", [SANG_MOC])
    response = browser.get(f"/admin/citizens/{citizen.id}")
    assert response.status_code == 403
    assert citizen.cccd not in response.get_data(as_text=True)
    with app.app_context():
        entry = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "staff:access_denied"))
        assert entry.citizen_id == citizen.id and entry.actor_id == str(browser.staff.id)


def test_auditor_reads_everything_without_actions(staff_client: StaffClient, make_citizen):
    citizen = make_citizen(commune_code=PHAN_DINH_PHUNG)
    browser = staff_client("auditor")
    page = browser.get(f"/admin/citizens/{citizen.id}").get_data(as_text=True)
    assert citizen.cccd in page and 'id="citizen-actions"' not in page
    assert "/admin/citizens/new" not in browser.get("/admin/citizens").get_data(as_text=True)


def test_unknown_citizen_is_404(staff_client: StaffClient):
    browser = staff_client("superadmin")
    assert browser.get("/admin/citizens/00000000-0000-0000-0000-000000000000").status_code \
        == 404
