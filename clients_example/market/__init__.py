"""Chợ 4.0 (market): a public client (no secret; PKCE S256 proves the code is its own) with a
pairwise subject; scopes ``openid profile phone``. It never receives the CCCD, and its
``sub`` for a citizen differs from every other sector's, so shops cannot link their
customers with the portal's records. Cart and order history are keyed by that pairwise
``sub`` in the app's own SQLite file.
"""

from __future__ import annotations

import json
import time

from flask import Flask, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from clients_example.common.rp import (
    AppSpec,
    Settings,
    claim,
    current_signin,
    login_required,
    make_app,
    rp,
)
from clients_example.common.store import Store

SPEC = AppSpec(
    key="market", title="Chợ 4.0", title_en="Market 4.0",
    client_id="tnid-demo-market", scope="openid profile phone offline_access",
    auth_method="none", subject_type="pairwise",
    extra_schema="""
CREATE TABLE IF NOT EXISTS cart (
    sub TEXT NOT NULL, product TEXT NOT NULL, quantity INTEGER NOT NULL,
    PRIMARY KEY (sub, product)
);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT, sub TEXT NOT NULL, items TEXT NOT NULL,
    total INTEGER NOT NULL, created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_sub ON orders (sub);""",
)
PORT = 5003
PRODUCTS = {  # id -> (name, price in đồng)
    "che-tan-cuong": ("Chè Tân Cương 500 g", 180_000),
    "gao-bao-thai": ("Gạo Bao thai Định Hóa 5 kg", 125_000),
    "mien-dong": ("Miến dong Việt Cường 1 kg", 90_000),
    "banh-chung": ("Bánh chưng Bờ Đậu", 60_000),
}
MAX_QUANTITY = 99


# --- cart and orders, keyed by the pairwise sub (plain functions: tested on their own) -------

def cart_items(store: Store, sub: str) -> list[dict]:
    with store.connect() as db:
        rows = db.execute("SELECT product, quantity FROM cart WHERE sub = ? ORDER BY product",
                          (sub,)).fetchall()
    return [{"product": r["product"], "name": PRODUCTS[r["product"]][0],
             "quantity": r["quantity"], "price": PRODUCTS[r["product"]][1],
             "subtotal": r["quantity"] * PRODUCTS[r["product"]][1]}
            for r in rows if r["product"] in PRODUCTS]


def add_to_cart(store: Store, sub: str, product: str, quantity: int = 1) -> None:
    if product not in PRODUCTS or not 1 <= quantity <= MAX_QUANTITY:
        raise ValueError("unknown product or quantity")
    with store.connect() as db:
        db.execute("INSERT INTO cart (sub, product, quantity) VALUES (?, ?, ?) "
                   "ON CONFLICT (sub, product) DO UPDATE SET quantity = "
                   f"min(quantity + excluded.quantity, {MAX_QUANTITY})", (sub, product, quantity))


def place_order(store: Store, sub: str) -> int | None:
    """Turn the cart into an order; None when the cart is empty."""
    items = cart_items(store, sub)
    if not items:
        return None
    total = sum(item["subtotal"] for item in items)
    with store.connect() as db:
        cursor = db.execute("INSERT INTO orders (sub, items, total, created_at) "
                            "VALUES (?, ?, ?, ?)", (sub, json.dumps(items), total, time.time()))
        db.execute("DELETE FROM cart WHERE sub = ?", (sub,))
    return cursor.lastrowid


def orders(store: Store, sub: str) -> list[dict]:
    with store.connect() as db:
        rows = db.execute("SELECT id, items, total, created_at FROM orders WHERE sub = ? "
                          "ORDER BY id DESC", (sub,)).fetchall()
    return [{"id": r["id"], "items": json.loads(r["items"]), "total": r["total"],
             "when": time.strftime("%d/%m/%Y %H:%M", time.localtime(r["created_at"]))}
            for r in rows]


def create_app(settings: Settings) -> Flask:
    app = make_app(SPEC, settings, __name__)

    @app.template_filter("dong")
    def dong(amount: int) -> str:
        return f"{amount:,}".replace(",", ".") + " đ"

    @app.get("/")
    def index() -> str:
        signin = current_signin()
        sub = signin["claims"]["sub"] if signin else None
        return render_template("market/index.html", products=PRODUCTS,
                               cart=cart_items(rp().store, sub) if sub else [],
                               orders=orders(rp().store, sub) if sub else [],
                               phone=claim("phone_number") if sub else None)

    @app.post("/cart")
    @login_required
    def add() -> Response:
        try:
            add_to_cart(rp().store, claim("sub"), request.form.get("product", ""),
                        int(request.form.get("quantity", "1")))
        except ValueError:
            abort(400, "Sản phẩm hoặc số lượng không hợp lệ.")
        flash("Đã thêm vào giỏ hàng.", "info")
        return redirect(url_for("index"))

    @app.post("/orders")
    @login_required
    def checkout() -> Response:
        order = place_order(rp().store, claim("sub"))
        flash(f"Đã đặt đơn hàng số {order}." if order else "Giỏ hàng đang trống.", "info")
        return redirect(url_for("index"))

    return app
