"""create_app wiring that the rest of the suite relies on without saying so."""

from __future__ import annotations

from idp.extensions import limiter


def test_limiter_runs_only_inside_decorated_views(app):
    """The per-request hooks are detached (speed); the sign-in limit still works, which
    tests/functional/test_login.py::test_sign_in_is_rate_limited_per_ip shows."""
    hooks = [*app.before_request_funcs[None], *app.after_request_funcs[None],
             *app.teardown_request_funcs[None]]
    names = {getattr(getattr(h, "func", h), "__qualname__", "") for h in hooks}
    assert not any(name.startswith("Limiter.") for name in names)
    assert limiter.enabled
