"""SQLAlchemy 2 typed models, one module per aggregate. Importing this registers them all."""

from idp.models.audit import AuditEvent
from idp.models.base import Base
from idp.models.citizen import Citizen, CitizenStatus
from idp.models.client import Client
from idp.models.consent import Consent
from idp.models.device import KnownDevice
from idp.models.identity import ActivationCode, IdentityVerification
from idp.models.notification import OutboxMessage
from idp.models.oauth import AuthorizationCode, Token
from idp.models.protocol_state import (
    InitialAccessToken,
    LogoutDelivery,
    PushedAuthorizationRequest,
    SessionClient,
    UsedAssertion,
)
from idp.models.qr_login import QrSignInRequest
from idp.models.second_factor import RecoveryCode, TotpCredential
from idp.models.signing_key import SigningKey
from idp.models.sso_session import SsoSession
from idp.models.staff import StaffAccount, StaffCommune, StaffRole
from idp.models.verification import OneTimeCode

__all__ = [
    "ActivationCode", "AuditEvent", "AuthorizationCode", "Base", "Citizen", "CitizenStatus",
    "Client", "Consent", "IdentityVerification", "InitialAccessToken", "KnownDevice",
    "LogoutDelivery", "OneTimeCode", "OutboxMessage", "PushedAuthorizationRequest",
    "QrSignInRequest", "RecoveryCode", "SessionClient", "SigningKey", "SsoSession",
    "StaffAccount", "StaffCommune", "StaffRole", "Token", "TotpCredential", "UsedAssertion",
]
