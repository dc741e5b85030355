"""Play the CDS client: make a key pair and its JWK Set, then sign CDS Hooks tokens with it.

    python examples/auth/make_token.py keygen examples/auth/keys
    python examples/auth/make_token.py token examples/auth/keys \\
        --aud http://127.0.0.1:8080/cds-services/labrecog-order-select

``keygen`` writes ``private-key.pem`` (mode 0600: the client's secret), ``jwks.json``
(the public JWK Set the service is given: examples/serve.toml's ``jwks_file``) and a
``.gitignore`` that keeps both out of the repository. ``token`` prints one JWT as CDS
Hooks 2.0 asks for it: ``alg``, ``kid`` and ``typ`` in the header; ``iss``, ``sub``,
``aud``, ``iat``, ``exp``, a fresh ``jti`` and ``tenant`` in the claims. Each call to the
service needs a new one (the service refuses a ``jti`` it has seen). For trials only: a
real CDS client keeps its key in its own key store. Needs ``labrecog[server]`` (PyJWT,
cryptography).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://cpoe.lzu2.example"  # examples/serve.toml's first issuer
AUDIENCE = "http://127.0.0.1:8080/cds-services/labrecog-order-select"


def keygen(folder: Path, alg: str, kid: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".gitignore").write_text("*\n", encoding="utf-8")
    if alg == "ES384":
        key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = ec.generate_private_key(
            ec.SECP384R1()
        )
        public = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    private = folder / "private-key.pem"
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    jwks = {"keys": [{**public, "kid": kid, "alg": alg, "use": "sig"}]}
    (folder / "jwks.json").write_text(json.dumps(jwks, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {private} (keep it secret) and {folder / 'jwks.json'} (kid {kid}, {alg})")


def token(folder: Path, aud: str, iss: str, sub: str, tenant: str, lifetime: int) -> str:
    jwks = json.loads((folder / "jwks.json").read_text(encoding="utf-8"))
    public = jwks["keys"][0]
    key = serialization.load_pem_private_key((folder / "private-key.pem").read_bytes(), None)
    now = int(time.time())
    claims = {
        "iss": iss,
        "sub": sub,
        "aud": aud,
        "iat": now,
        "exp": now + lifetime,
        "jti": str(uuid.uuid4()),
        "tenant": tenant,
    }
    headers = {"kid": public["kid"], "typ": "JWT"}
    signed: str = jwt.encode(claims, key, algorithm=public["alg"], headers=headers)  # type: ignore[arg-type]
    return signed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("keygen", help="make a key pair and its public JWK Set")
    make.add_argument("folder", type=Path)
    make.add_argument("--alg", choices=["ES384", "RS384"], default="ES384")
    make.add_argument("--kid", default="cpoe-2025-1")
    sign = sub.add_parser("token", help="print a signed CDS Hooks JWT")
    sign.add_argument("folder", type=Path)
    sign.add_argument("--aud", default=AUDIENCE, help=f"service URL (default {AUDIENCE})")
    sign.add_argument("--iss", default=ISSUER, help=f"issuer (default {ISSUER})")
    sign.add_argument("--sub", default="cpoe-client", help="the client id (default cpoe-client)")
    sign.add_argument("--tenant", default="LZU2", help="the organisation (default LZU2)")
    sign.add_argument("--lifetime", type=int, default=120, help="seconds (default 120)")
    args = parser.parse_args(argv)
    if args.command == "keygen":
        keygen(args.folder, args.alg, args.kid)
    else:
        print(token(args.folder, args.aud, args.iss, args.sub, args.tenant, args.lifetime))
    return 0


if __name__ == "__main__":
    sys.exit(main())
