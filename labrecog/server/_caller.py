"""Who made a call: what the service knows of its caller once the bearer JWT is verified.

Shared by authentication (which fills it) and the audit store (which records it), so that
neither imports the other. In the explicit insecure mode every field is None.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ANONYMOUS", "Caller"]


@dataclass(frozen=True, slots=True)
class Caller:
    """The verified identity of a CDS client call (never the token itself)."""

    issuer: str | None = None  # JWT iss: the CDS client (EHR) that signed the token
    subject: str | None = None  # JWT sub
    tenant: str | None = None  # JWT tenant: the organisation the client acts for
    jti: str | None = None  # JWT id, recorded for audit (replay is refused before this)


ANONYMOUS = Caller()
