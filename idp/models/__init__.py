"""SQLAlchemy 2 typed models, one module per aggregate. Importing this registers them all."""

from idp.models.base import Base
from idp.models.citizen import Citizen, CitizenStatus
from idp.models.sso_session import SsoSession

__all__ = ["Base", "Citizen", "CitizenStatus", "SsoSession"]
