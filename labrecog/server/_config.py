"""``labrecog serve --config serve.toml``: the service's settings in one file, checked whole.

TOML (``tomllib``, in the standard library) is the one format: it has types, comments and
tables, which is all this needs. Every key is known: an unknown one (a typo, a setting
from a future version) is an error naming it, as is a wrong type or a weak choice
(``none`` or an HMAC algorithm, a JWKS URL over plain HTTP). Relative paths are relative
to the file's folder, so a unit file can start the service from anywhere. Command-line
options override the file (:meth:`ServeConfig.merged`). There is no ``insecure_no_auth``
key on purpose: running without authentication takes the command-line flag, which shows
in the process list and the unit file rather than hiding in a copied config.
"""

from __future__ import annotations

import ipaddress
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from labrecog._errors import LabrecogError
from labrecog.server._auth import (
    ALLOWED_ALGORITHMS,
    DEFAULT_ALGORITHMS,
    Authenticator,
    TrustedIssuer,
    check_public_url,
)
from labrecog.server._jwks import JwksUnavailable, index_keys

__all__ = ["ConfigError", "ServeConfig", "build_authenticator", "load_config"]

_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")  # JWK members of private/secret keys


class ConfigError(LabrecogError):
    """The configuration cannot be used; the message is one line naming the key."""


def _algorithm(value: str) -> str:
    if value not in ALLOWED_ALGORITHMS:
        raise ValueError(
            "not an allowed signing algorithm: none and HMAC (HS*) are never accepted; "
            f"use {', '.join(sorted(ALLOWED_ALGORITHMS))}"
        )
    return value


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _key_url(value: str) -> str:
    parts = urlsplit(value)
    if not parts.hostname or parts.username or parts.password:
        raise ValueError("must be an absolute https URL without credentials")
    if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(parts.hostname)):
        raise ValueError("must be https (plain http only on loopback)")
    return value


def _origin(value: str) -> str:
    if value == "*":
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an origin such as https://ehr.example.org, or *")
    if parts.path or parts.query or parts.fragment or parts.username:
        raise ValueError("an origin is scheme://host[:port], without a path")
    return value


def _http_url(value: str) -> str:
    if urlsplit(value).scheme not in ("http", "https"):
        raise ValueError("must be an http(s) URL")
    return value


def _public(value: str) -> str:
    return check_public_url(value)


Algorithm = Annotated[str, AfterValidator(_algorithm)]
KeyUrl = Annotated[str, AfterValidator(_key_url)]
Origin = Annotated[str, AfterValidator(_origin)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
PublicUrl = Annotated[str, AfterValidator(_public)]
NonEmpty = Annotated[str, Field(min_length=1)]


def _resolve(value: str | Path | None, info: ValidationInfo) -> Any:
    base = (info.context or {}).get("base")
    if value is None or base is None or Path(value).is_absolute():
        return value
    resolved = (Path(base) / value).resolve()
    return resolved if isinstance(value, Path) else str(resolved)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class IssuerConfig(_Strict):
    """A trusted CDS client (``[[auth.issuers]]``)."""

    iss: NonEmpty = Field(description="The JWT iss of the CDS client, exactly.")
    jwks_url: KeyUrl | None = Field(None, description="Where its JWK Set is published.")
    jwks_file: Path | None = Field(None, strict=False, description="Its JWK Set, in a file.")
    jku_allow: list[KeyUrl] = Field(
        default_factory=list, description="JWK Set URLs a token's jku header may name."
    )
    algorithms: list[Algorithm] = Field(default_factory=lambda: list(DEFAULT_ALGORITHMS))

    @field_validator("algorithms")
    @classmethod
    def _some(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("give at least one algorithm")
        return value

    @field_validator("jwks_file", mode="after")
    @classmethod
    def _relative(cls, value: Path | None, info: ValidationInfo) -> Any:
        return _resolve(value, info)

    @model_validator(mode="after")
    def _keys(self) -> IssuerConfig:
        if self.jwks_url is not None and self.jwks_file is not None:
            raise ValueError("give jwks_url or jwks_file, not both")
        if self.jwks_url is None and self.jwks_file is None and not self.jku_allow:
            raise ValueError("give the issuer's keys: jwks_url, jwks_file or jku_allow")
        return self


class AuthConfig(_Strict):
    """``[auth]``: whom to trust, and how strictly to read their tokens."""

    issuers: list[IssuerConfig] = Field(default_factory=list)
    clock_skew_seconds: int = Field(60, ge=0, le=300)
    max_token_lifetime_seconds: int = Field(300, ge=1, le=3600)
    jwks_cache_seconds: int = Field(300, ge=0, le=86400)
    jwks_timeout_seconds: float = Field(5.0, gt=0, le=30, strict=False)


class RateLimitConfig(_Strict):
    """``[rate_limit]``: per caller (``iss``, ``sub``, ``tenant``), a token bucket."""

    per_minute: int = Field(ge=1)
    burst: int = Field(10, ge=1)


class InstitutionConfig(_Strict):
    """``[institution]``: the ordering institution when the draft orders name none."""

    id: NonEmpty
    region: NonEmpty | None = None
    level: int | None = Field(None, ge=1, le=3)


class ServeConfig(_Strict):
    """Everything ``labrecog serve`` takes, as one TOML file (docs/security.md)."""

    rules: str | None = None
    host: str | None = None
    port: int | None = Field(None, ge=0, le=65535)
    public_url: PublicUrl | None = None
    feedback_db: str | None = None
    institution: InstitutionConfig | None = None
    lang: Literal["zh", "en"] | None = None
    cards: Literal["items", "summary", "both"] | None = None
    max_body: int | None = Field(None, ge=1024)
    cors_origins: list[Origin] = Field(default_factory=list)
    fhir_servers: list[HttpUrl] = Field(default_factory=list)
    log_level: Literal["debug", "info", "warning", "error"] | None = None
    auth: AuthConfig | None = None
    rate_limit: RateLimitConfig | None = None
    _source: str = PrivateAttr(default="command line")

    @field_validator("rules", "feedback_db", mode="after")
    @classmethod
    def _relative(cls, value: str | None, info: ValidationInfo) -> Any:
        if value is not None and "://" in value:
            return value  # a database URL, not a path
        return _resolve(value, info)

    @property
    def source(self) -> str:
        return self._source

    @property
    def issuers(self) -> list[IssuerConfig]:
        return self.auth.issuers if self.auth is not None else []

    def merged(self, overrides: Mapping[str, Any]) -> ServeConfig:
        """This file's settings with the command line's on top (given ones only)."""
        data = {**self.model_dump(exclude_unset=True), **overrides}
        try:
            merged = ServeConfig.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_first_error("command line", exc)) from None
        merged._source = self._source
        return merged


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(file)"


def _first_error(source: str, exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    where = _where(tuple(first["loc"]))
    if first["type"] == "extra_forbidden":
        what = "unknown key"
        if where == "insecure_no_auth":
            what += " (running without authentication takes the flag --insecure-no-auth)"
    else:
        what = str(first["msg"]).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{source}: {where}: {what}{more}"


def load_config(path: str | Path) -> ServeConfig:
    """Read and validate ``path``; any problem is a one-line :class:`ConfigError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the file ({type(exc).__name__})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {str(exc).splitlines()[0]}") from None
    try:
        config = ServeConfig.model_validate(data, context={"base": path.resolve().parent})
    except ValidationError as exc:
        raise ConfigError(_first_error(str(path), exc)) from None
    seen: set[str] = set()
    for i, issuer in enumerate(config.issuers):
        if issuer.iss in seen:
            raise ConfigError(f"{path}: auth.issuers[{i}].iss: {issuer.iss} is given twice")
        seen.add(issuer.iss)
    config._source = str(path)
    return config


def _read_jwks(path: Path, where: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read {path} ({type(exc).__name__})") from None
    except json.JSONDecodeError:
        raise ConfigError(f"{where}: {path} is not JSON") from None
    try:
        keys = index_keys(data)
    except JwksUnavailable:
        raise ConfigError(f"{where}: {path} is not a JWK Set ({{'keys': [...]}})") from None
    if any(member in key for key in keys.values() for member in _PRIVATE_MEMBERS):
        raise ConfigError(
            f"{where}: {path} holds a private key; give the service the public JWK Set only"
        )
    if not keys:
        raise ConfigError(f"{where}: {path} has no usable key (each needs a kid)")
    result: dict[str, Any] = data
    return result


def build_authenticator(config: ServeConfig) -> Authenticator:
    """The verifier for the configured issuers; JWKS files are read (and checked) now."""
    source = config.source
    if not config.issuers:
        raise ConfigError(f"{source}: auth.issuers: no trusted issuer is configured")
    if config.public_url is None:
        raise ConfigError(
            f"{source}: public_url is required with auth.issuers: a token's aud must be "
            "the URL the client calls (public_url + /cds-services/<id>); or --public-url"
        )
    auth = config.auth
    assert auth is not None
    issuers = []
    for i, issuer in enumerate(auth.issuers):
        jwks = None
        if issuer.jwks_file is not None:
            jwks = _read_jwks(issuer.jwks_file, f"{source}: auth.issuers[{i}].jwks_file")
        issuers.append(
            TrustedIssuer(
                issuer.iss,
                jwks=jwks,
                jwks_url=issuer.jwks_url,
                jku_allow=tuple(issuer.jku_allow),
                algorithms=tuple(issuer.algorithms),
            )
        )
    return Authenticator(
        issuers,
        public_url=config.public_url,
        clock_skew=auth.clock_skew_seconds,
        max_lifetime=auth.max_token_lifetime_seconds,
        jwks_cache_seconds=auth.jwks_cache_seconds,
        jwks_timeout=auth.jwks_timeout_seconds,
    )
