"""Chợ 4.0 keeps cart and orders by its pairwise ``sub``: one citizen never sees another's."""

from __future__ import annotations

import pytest

from clients_example import market
from clients_example.common.store import Store
from tests.clients_example.test_backchannel_endpoint import sign_in


@pytest.fixture
def store(tmp_path) -> Store:  # noqa: ANN001
    return Store(tmp_path / "market.sqlite3", market.SPEC.extra_schema)


def test_cart_and_orders_are_keyed_by_sub(store):
    market.add_to_cart(store, "sub-a", "che-tan-cuong", 2)
    market.add_to_cart(store, "sub-a", "che-tan-cuong")
    market.add_to_cart(store, "sub-b", "banh-chung")
    assert [(i["product"], i["quantity"]) for i in market.cart_items(store, "sub-a")] == \
        [("che-tan-cuong", 3)]
    assert [i["product"] for i in market.cart_items(store, "sub-b")] == ["banh-chung"]

    order = market.place_order(store, "sub-a")
    assert order is not None and market.cart_items(store, "sub-a") == []
    assert [o["total"] for o in market.orders(store, "sub-a")] == [3 * 180_000]
    assert market.orders(store, "sub-b") == []
    assert market.place_order(store, "sub-c") is None  # empty cart: no order


@pytest.mark.parametrize(("product", "quantity"), [("ruou-lau", 1), ("banh-chung", 0),
                                                   ("banh-chung", 100)])
def test_unknown_products_and_silly_quantities_are_refused(store, product, quantity):
    with pytest.raises(ValueError):
        market.add_to_cart(store, "sub-a", product, quantity)
    assert market.cart_items(store, "sub-a") == []


def test_the_page_shows_only_the_signed_in_subs_cart(make_rp_app):
    app = make_rp_app("market")
    alice, bob = app.test_client(), app.test_client()
    sign_in(app, alice, sub="pairwise-a")
    sign_in(app, bob, sid="sid-2", sub="pairwise-b")
    page = alice.get("/").text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert alice.post("/cart", data={"csrf_token": token, "product": "mien-dong"}).status_code \
        == 302
    assert "Miến dong" in alice.get("/").text.split('id="cart"')[1]
    assert "Giỏ hàng trống" in bob.get("/").text
    bad = alice.post("/cart", data={"csrf_token": token, "product": "x", "quantity": "1"})
    assert bad.status_code == 400
    # Not signed in: to the provider, nothing added.
    assert app.test_client().post("/cart", data={"product": "mien-dong"}).status_code == 400
