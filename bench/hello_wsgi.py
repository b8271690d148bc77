"""The smallest WSGI app, served by the same gunicorn set-up as ThaiNguyen ID: what one vCPU
of this machine does per second with no application at all (see ``calibrate`` in
``bench/oidc_endpoints.py``). Figures of two machines, or of one machine on two days, only
compare once divided by it."""

BODY = b'{"ok": true}'


def app(environ: dict, start_response) -> list[bytes]:  # noqa: ANN001
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(BODY)))])
    return [BODY]
