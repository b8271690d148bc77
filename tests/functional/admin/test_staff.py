"""/admin/staff: the list for STAFF_READ; a superadmin creates, disables and resets staff
accounts with a reason; officers and auditors are refused (403 + audit entry)."""

from __future__ import annotations

import re

from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, StaffAccount
from tests.conftest import csrf_token
from tests.functional.admin.conftest import PHAN_DINH_PHUNG, SANG_MOC

NEW_PASSWORD = "mat-khau-can-bo-moi-2025"


def create_form(**fields: object) -> dict[str, object]:
    return {"username": "canbo.phandinhphung", "display_name": "Lê Văn Nam", "role": "officer",
            "communes": [PHAN_DINH_PHUNG], "password": NEW_PASSWORD,
            "reason": "Cán bộ mới của phường", **fields}


def entries(app, action: str) -> list[AuditEvent]:  # noqa: ANN001
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def staff_named(app, username: str) -> StaffAccount | None:  # noqa: ANN001
    with app.app_context():
        return db.session.scalar(select(StaffAccount).where(StaffAccount.username == username))


def test_superadmin_creates_an_officer(app, staff_client):
    client = staff_client("superadmin")
    page = client.get("/admin/staff")
    assert page.status_code == 200 and client.staff.username in page.text
    assert "Xã Sảng Mộc (05719)" in page.text  # the communes to choose from
    answer = client.post("/admin/staff/new", data={"csrf_token": csrf_token(page.text),
                                                   **create_form()})
    assert answer.status_code == 302, answer.text
    created = staff_named(app, "canbo.phandinhphung")
    assert created is not None and created.commune_codes == {PHAN_DINH_PHUNG}
    assert created.totp_confirmed_at is None
    detail = client.get(answer.location)
    assert "Phường Phan Đình Phùng" in detail.text
    [entry] = entries(app, "staff:account:created")
    assert entry.actor_type == "staff" and entry.actor_id == str(client.staff.id)
    assert entry.details["reason"] == "Cán bộ mới của phường"
    assert NEW_PASSWORD not in str(entry.details)


def test_bad_input_is_explained_and_nothing_written(app, staff_client):
    client = staff_client("superadmin")
    token = csrf_token(client.get("/admin/staff").text)
    for fields, message in [
        ({"reason": ""}, "Vui lòng ghi lý do"),
        ({"reason": "abc"}, "Vui lòng ghi lý do"),
        ({"communes": []}, "ít nhất một xã/phường"),
        ({"role": "auditor"}, "Chỉ cán bộ xã/phường mới có"),
        ({"communes": ["01234"]}, ""),
        ({"password": "ngan-qua-1"}, ""),
        ({"username": "x"}, "Tên đăng nhập phải có"),
        ({"role": "root"}, ""),
    ]:
        answer = client.post("/admin/staff/new", data={"csrf_token": token,
                                                       **create_form(**fields)})
        assert answer.status_code == 400, fields
        assert message in answer.text
        assert 'class="field-error"' in answer.text, fields
    assert staff_named(app, "canbo.phandinhphung") is None
    assert entries(app, "staff:account:created") == []


def test_officer_and_auditor_cannot_create_staff(app, staff_client):
    for role, communes in (("officer", [SANG_MOC]), ("auditor", [])):
        client = staff_client(role, communes)
        page = client.get("/admin/")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        answer = client.post("/admin/staff/new",
                             data={"csrf_token": token, **create_form(username=f"x.{role}")})
        assert answer.status_code == 403
        assert staff_named(app, f"x.{role}") is None
    denials = entries(app, "staff:access_denied")
    assert [d.details["what"] for d in denials] == ["staff:write", "staff:write"]


def test_officer_cannot_see_the_list_auditor_can(app, staff_client):
    officer = staff_client("officer", [SANG_MOC])
    assert officer.get("/admin/staff").status_code == 403
    auditor = staff_client("auditor")
    page = auditor.get("/admin/staff")
    assert page.status_code == 200 and 'action="/admin/staff/new"' not in page.text


def test_disable_and_reset_need_a_reason_and_end_sessions(app, staff_client, make_staff,
                                                         sign_in_staff):
    boss = staff_client("superadmin")
    target = make_staff("officer", [SANG_MOC])
    victim = sign_in_staff(app.test_client(), target)
    assert victim.get("/admin/").status_code == 200
    page = boss.get(f"/admin/staff/{target.id}")
    assert page.status_code == 200
    missing = boss.post(f"/admin/staff/{target.id}/disable",
                        data={"csrf_token": csrf_token(page.text), "reason": ""})
    assert missing.status_code == 400 and "Vui lòng ghi lý do" in missing.text
    assert staff_named(app, target.username).disabled_at is None
    assert victim.get("/admin/").status_code == 200
    reset = boss.post(f"/admin/staff/{target.id}/reset-totp",
                      data={"csrf_token": csrf_token(page.text),
                            "reason": "Mất điện thoại, đã kiểm tra CCCD"})
    assert reset.status_code == 302
    assert victim.get("/admin/").status_code == 302  # its session ended
    done = boss.post(f"/admin/staff/{target.id}/disable",
                     data={"csrf_token": csrf_token(page.text),
                           "reason": "Chuyển công tác"})
    assert done.status_code == 302
    assert staff_named(app, target.username).disabled_at is not None
    [entry] = entries(app, "staff:account:disabled")
    assert entry.details["reason"] == "Chuyển công tác"
    assert entries(app, "staff:totp:reset")[0].details["reason"].startswith("Mất điện thoại")


def test_superadmin_cannot_disable_themselves(app, staff_client):
    boss = staff_client("superadmin")
    page = boss.get(f"/admin/staff/{boss.staff.id}")
    answer = boss.post(f"/admin/staff/{boss.staff.id}/disable",
                       data={"csrf_token": csrf_token(page.text),
                             "reason": "Thử tự khóa"})
    assert answer.status_code == 400
    assert staff_named(app, boss.staff.username).disabled_at is None


def test_writes_need_the_csrf_token(app, staff_client, make_staff):
    boss = staff_client("superadmin")
    target = make_staff("auditor")
    answer = boss.post(f"/admin/staff/{target.id}/disable",
                       data={"reason": "Chuyển công tác"})
    assert answer.status_code == 400
    assert staff_named(app, target.username).disabled_at is None
    assert boss.post("/admin/staff/new", data=create_form()).status_code == 400


def test_unknown_account_is_404(staff_client):
    boss = staff_client("superadmin")
    assert boss.get("/admin/staff/00000000-0000-0000-0000-000000000000").status_code == 404
