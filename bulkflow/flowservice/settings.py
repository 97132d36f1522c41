"""Settings from the environment or a ``.env`` file (contract §1), frozen once read."""

from __future__ import annotations

import re

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SCOPES = "openid,AdobeID,read_organizations,additional_info.projectedProductContext,session"


class Settings(BaseSettings):
    """Where Flow Service is and who we are.

    Example::

        Settings(base_url="http://127.0.0.1:8080/data/foundation/flowservice",
                 client_id="abc", client_secret="s3cr3t", org_id="ACME@AdobeOrg")
    """

    model_config = SettingsConfigDict(
        env_prefix="AEP_", env_file=".env", frozen=True, extra="ignore"
    )

    base_url: str = "https://platform.adobe.io/data/foundation/flowservice"
    ims_url: str = "https://ims-na1.adobelogin.com/ims/token/v3"
    client_id: str | None = None
    client_secret: SecretStr | None = None
    org_id: str | None = None
    sandbox: str = "prod"
    scopes: str = DEFAULT_SCOPES
    access_token: SecretStr | None = None

    @field_validator("base_url", "ims_url", "client_id", "org_id", "sandbox", "scopes")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        # Each of these ends up in a URL or a header: a line break there would split a request.
        if value is not None and _CONTROL.search(value):
            raise ValueError("must not contain line breaks or other control characters")
        return value

    @field_validator("client_secret", "access_token")
    @classmethod
    def _one_line_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and _CONTROL.search(value.get_secret_value()):
            raise ValueError("must not contain line breaks or other control characters")
        return value


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
