"""PKCE (RFC 7636) with S256 only: ``plain`` offers no protection once the challenge leaks
(RFC 9700 §2.1.1).

At the token endpoint authlib's ``CodeChallenge`` already does what RFC 9700 asks: a public
client must send a verifier, a verifier without a stored challenge is refused (§4.8.2), and a
verifier that does not match is ``invalid_grant`` (RFC 7636 §4.6). The code is spent before
the verifier is checked, so a wrong guess cannot be followed by another.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge


class S256CodeChallenge(CodeChallenge):
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri):  # noqa: ANN001, ANN201
        """RFC 7636 §4.3 at the authorization endpoint. (Error descriptions must be ASCII:
        authlib refuses to build an error whose text holds anything else, RFC 6749 §4.1.2.1.)"""
        request = grant.request
        challenge = request.payload.data.get("code_challenge")
        method = request.payload.data.get("code_challenge_method")
        if grant.request.client.is_public and not challenge:
            raise InvalidRequestError("PKCE is required for public clients (RFC 9700 2.1.1).")
        if challenge and method != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256.")
        return super().validate_code_challenge(grant, redirect_uri)
