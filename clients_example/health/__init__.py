"""Sổ sức khỏe điện tử (electronic health records): a confidential client authenticating
with ``client_secret_basic``; scopes ``openid profile citizen``. It shows the records of the
signed-in citizen's CCCD only when ThaiNguyen ID vouches for the identity (identity level 2,
checked in person at the commune office); otherwise it explains how to get verified.
"""

from __future__ import annotations

import hashlib

from flask import Flask, render_template

from clients_example.common.rp import (
    AppSpec,
    Settings,
    current_signin,
    fresh_userinfo,
    make_app,
)

SPEC = AppSpec(
    key="health", title="Sổ sức khỏe điện tử", title_en="Electronic health records",
    client_id="tnid-demo-health", scope="openid profile citizen offline_access",
    auth_method="client_secret_basic",
)
PORT = 5002

VACCINES = ["Viêm gan B", "Bạch hầu – Ho gà – Uốn ván", "Sởi – Rubella", "Cúm mùa",
            "COVID-19 (mũi 3)", "Viêm não Nhật Bản"]
VISITS = [("Trạm Y tế xã Sảng Mộc", "Khám sức khỏe định kỳ"),
          ("Bệnh viện Đa khoa Trung ương Thái Nguyên", "Khám nội tổng quát"),
          ("Trung tâm Y tế khu vực Võ Nhai", "Khám răng hàm mặt"),
          ("Bệnh viện A Thái Nguyên", "Xét nghiệm máu")]
BLOOD = ["O+", "A+", "B+", "AB+"]


def records_for(cccd: str) -> dict:
    """Demo records, the same every time for one CCCD (nothing real is stored)."""
    digest = hashlib.sha256(cccd.encode()).digest()
    return {
        "insurance": f"GD4{cccd[-10:]}",
        "blood": BLOOD[digest[0] % len(BLOOD)],
        "vaccines": [(VACCINES[(digest[1] + i) % len(VACCINES)], 2019 + (digest[2 + i] % 6))
                     for i in range(3)],
        "visits": [(f"{1 + digest[6 + i] % 28:02d}/{1 + digest[9 + i] % 12:02d}/"
                    f"{2022 + i}", *VISITS[(digest[12] + i) % len(VISITS)]) for i in range(3)],
    }


def create_app(settings: Settings) -> Flask:
    app = make_app(SPEC, settings, __name__)

    @app.get("/")
    def index() -> str:
        if current_signin() is None:
            return render_template("health/index.html", state="signed_out")
        # Asked afresh on every visit (refreshing the access token when it expired): a
        # citizen verified at the commune office since signing in sees the records at once.
        info = fresh_userinfo()
        cccd, level = info.get("cccd"), info.get("identity_level")
        if not cccd or level != 2:
            return render_template("health/index.html", state="unverified", level=level)
        return render_template("health/index.html", state="records", cccd=cccd,
                               records=records_for(cccd), name=info.get("name"))

    return app

