"""SQLAlchemy 2 typed models, one module per aggregate. Importing this registers them all."""

from idp.models.base import Base
from idp.models.citizen import Citizen, CitizenStatus
from idp.models.client import Client
from idp.models.consent import Consent
from idp.models.oauth import AuthorizationCode, Token
from idp.models.protocol_state import (
    InitialAccessToken,
    LogoutDelivery,
    PushedAuthorizationRequest,
    SessionClient,
    UsedAssertion,
)
from idp.models.signing_key import SigningKey
from idp.models.sso_session import SsoSession

__all__ = [
    "AuthorizationCode", "Base", "Citizen", "CitizenStatus", "Client", "Consent",
    "InitialAccessToken", "LogoutDelivery", "PushedAuthorizationRequest", "SessionClient",
    "SigningKey", "SsoSession", "Token", "UsedAssertion",
]
