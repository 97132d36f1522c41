"""Settings from the environment or a ``.env`` file (contract §1), frozen once read."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from pydantic import SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bulkflow.errors import InputError

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
        if value is not None:
            _check_sendable(value)
        return value

    @field_validator("client_secret", "access_token")
    @classmethod
    def _one_line_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _check_sendable(value.get_secret_value())
        return value


def _check_sendable(value: str) -> None:
    """Each setting ends up in a URL, a header or a form: a line break would split a request,
    and a byte that is not UTF-8 (os.environ keeps it as a surrogate) cannot be sent at all."""
    if _CONTROL.search(value):
        raise ValueError("must not contain line breaks or other control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be UTF-8 text") from None


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def settings_from_env(sandbox: str | None = None) -> Settings:
    """Settings from the environment (or ``.env``), with a job's ``sandbox`` when it names one."""
    try:
        settings = Settings()
    except ValidationError as exc:
        error = exc.errors()[0]  # its message only: the input may be a secret
        name = "AEP_" + str(error["loc"][0]).upper() if error["loc"] else "the environment"
        raise InputError(f"invalid {name}: {error['msg']}") from None
    if sandbox:
        settings = settings.model_copy(update={"sandbox": sandbox})
    return settings


def check_transport(settings: Settings) -> None:
    """Refuse plain ``http://`` except to a loopback host: tokens would travel in clear."""
    for name, url in (("AEP_BASE_URL", settings.base_url), ("AEP_IMS_URL", settings.ims_url)):
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:
            # Never quoted back: what stands before the @ may be a password.
            raise InputError(f"{name} must not hold a user name or password (user@host)")
        if parts.query or parts.fragment:
            # A query may carry a signature or a key: it would be in every request's log line.
            raise InputError(f"{name} must not hold a query (?…) or fragment (#…)")
        if parts.scheme == "https":
            continue
        if parts.scheme != "http":
            raise InputError(f"{name} must be an https:// URL, not {url!r}")
        if not _is_loopback(parts.hostname or ""):
            raise InputError(
                f"{name} is plain http:// to {parts.hostname}: credentials and tokens would travel "
                "unencrypted; use https:// (http is allowed only for loopback hosts)"
            )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
