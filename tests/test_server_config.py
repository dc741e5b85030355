"""``labrecog serve --config serve.toml``: the file, its strict validation, and the command.

The file is validated as a whole before anything starts: an unknown key, a wrong type or a
weak setting (``alg: none``, HMAC, a JWKS over plain HTTP) is a one-line error naming the
key, and ``serve`` exits 2 before loading the rule set or opening a port. Without trusted
issuers ``serve`` refuses to start unless ``--insecure-no-auth`` is given, which it then
says in a warning on every start.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bench.bench_server import free_port, wait_healthy
from labrecog.server import ConfigError, ServeConfig, build_authenticator, load_config
from tests.test_server_support import DEMO, EXAMPLE, ROOT

pytest.importorskip("uvicorn")

EXAMPLE_CONFIG = ROOT / "examples" / "serve.toml"
MAKE_TOKEN = ROOT / "examples" / "auth" / "make_token.py"

MINIMAL = """
public_url = "https://cds.lzu2.example"

[[auth.issuers]]
iss = "https://cpoe.lzu2.example"
jwks_file = "jwks.json"
"""


def write(folder: Path, text: str, name: str = "serve.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(folder: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(folder, text))
    message = str(info.value)
    assert "\n" not in message  # one line
    return message


def labrecog(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labrecog", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def keygen(folder: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(MAKE_TOKEN), "keygen", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def mint(folder: Path, aud: str) -> str:
    result = subprocess.run(
        [sys.executable, str(MAKE_TOKEN), "token", str(folder), "--aud", aud],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


# --------------------------------------------------------------------------- the file


def test_the_example_config_parses(tmp_path: Path) -> None:
    config = load_config(EXAMPLE_CONFIG)
    assert config.public_url == "http://127.0.0.1:8080"
    assert config.auth is not None and len(config.auth.issuers) == 2
    assert config.rules == str((ROOT / "rules" / "demo").resolve())  # relative to the file
    assert config.institution is not None and config.institution.id == "LZU2"
    assert config.rate_limit is not None and config.rate_limit.per_minute > 0
    # With its trial keys made, it builds an authenticator (a copy, so the tree stays clean).
    copy = tmp_path / "serve.toml"
    shutil.copy(EXAMPLE_CONFIG, copy)
    keygen(tmp_path / "auth" / "keys")
    auth = build_authenticator(load_config(copy))
    assert [i.iss for i in auth.issuers] == [i.iss for i in config.auth.issuers]


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    config = load_config(write(tmp_path / "conf", 'rules = "../rules"\n' + MINIMAL))
    assert config.rules == str((tmp_path / "rules").resolve())
    assert config.auth is not None
    assert config.auth.issuers[0].jwks_file == (tmp_path / "conf" / "jwks.json").resolve()


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("colour = 'blue'\n", "colour: unknown key"),
        ("insecure_no_auth = true\n", "insecure_no_auth: unknown key"),
        ("[auth]\nclock_skew = 5\n", "auth.clock_skew: unknown key"),
        (MINIMAL.replace("jwks_file", "jwks_uri"), "auth.issuers[0].jwks_uri: unknown key"),
        ("port = 'eighty'\n", "port:"),
        ("max_body = 10\n", "max_body:"),
        ("public_url = 'cds.lzu2.example'\n", "public_url:"),
        ("public_url = 'https://cds.lzu2.example/?x=1'\n", "public_url:"),
        ("cors_origins = ['https://ehr.lzu2.example/app']\n", "cors_origins[0]:"),
        ("cards = 'all'\n", "cards:"),
        ("[rate_limit]\nper_minute = 0\nburst = 5\n", "rate_limit.per_minute:"),
        ("[institution]\nid = 'LZU2'\nlevel = 4\n", "institution.level:"),
        (MINIMAL + 'algorithms = ["none"]\n', "auth.issuers[0].algorithms[0]:"),
        (MINIMAL + 'algorithms = ["HS256"]\n', "auth.issuers[0].algorithms[0]:"),
        (MINIMAL + "algorithms = []\n", "auth.issuers[0].algorithms:"),
        (
            MINIMAL + 'jwks_url = "https://cpoe.lzu2.example/jwks"\n',
            "auth.issuers[0]: give jwks_url or jwks_file, not both",
        ),
        (
            MINIMAL.replace('jwks_file = "jwks.json"', ""),
            "auth.issuers[0]: give the issuer's keys",
        ),
        (
            MINIMAL.replace('jwks_file = "jwks.json"', 'jwks_url = "http://cpoe.lzu2.example/k"'),
            "auth.issuers[0].jwks_url: must be https",
        ),
        (
            MINIMAL + 'jku_allow = ["http://cpoe.lzu2.example/jwks"]\n',
            "auth.issuers[0].jku_allow[0]: must be https",
        ),
        (MINIMAL + MINIMAL.split("\n", 2)[2], "auth.issuers[1].iss: https://cpoe.lzu2.example"),
        ("[auth]\nclock_skew_seconds = 3600\n", "auth.clock_skew_seconds:"),
        ("[[auth.issuers]\n", "not valid TOML"),
    ],
)
def test_an_invalid_file_is_one_line_naming_the_key(tmp_path: Path, text: str, said: str) -> None:
    message = error_of(tmp_path, text)
    assert said in message, message
    assert message.startswith(str(tmp_path / "serve.toml"))


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nowhere.toml")


def test_the_command_line_overrides_the_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "port = 8081\nmax_body = 65536\n" + MINIMAL))
    merged = config.merged({"port": 9000, "cors_origins": ["https://ehr.lzu2.example"]})
    assert merged.port == 9000 and merged.max_body == 65536
    assert merged.cors_origins == ["https://ehr.lzu2.example"]
    assert ServeConfig().cors_origins == []  # closed unless configured
    with pytest.raises(ConfigError, match="port"):
        config.merged({"port": -1})


def test_building_the_authenticator_reads_the_keys_and_refuses_bad_ones(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    with pytest.raises(ConfigError, match=r"auth.issuers\[0\].jwks_file: cannot read"):
        build_authenticator(load_config(path))
    keygen(tmp_path / "keys")
    jwks = json.loads((tmp_path / "keys" / "jwks.json").read_text())
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    assert build_authenticator(load_config(path)).issuers[0].iss == "https://cpoe.lzu2.example"
    # A JWKS holding a private key is a mistake to stop at: the service needs public keys.
    jwks["keys"][0]["d"] = "c2VjcmV0"
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    with pytest.raises(ConfigError, match="private key"):
        build_authenticator(load_config(path))
    (tmp_path / "jwks.json").write_text('{"keys": []}')
    with pytest.raises(ConfigError, match="no usable key"):
        build_authenticator(load_config(path))
    # Issuers but no public URL: the aud of a token could not be checked.
    with pytest.raises(ConfigError, match="public_url"):
        build_authenticator(load_config(write(tmp_path, MINIMAL.split("\n", 2)[2])))


# --------------------------------------------------------------------------- the command


def test_serve_refuses_to_start_without_issuers_or_the_insecure_flag(tmp_path: Path) -> None:
    result = labrecog("serve", "--rules", str(DEMO), "--port", str(free_port()))
    assert result.returncode == 2
    assert "--config" in result.stderr and "--insecure-no-auth" in result.stderr
    assert "docs/security.md" in result.stderr
    assert '"starting"' not in result.stderr and "Uvicorn running" not in result.stderr
    # a file without issuers is no better
    path = write(tmp_path, f'rules = "{DEMO}"\n')
    result = labrecog("serve", "--config", str(path), "--port", str(free_port()))
    assert result.returncode == 2 and "--insecure-no-auth" in result.stderr


def test_serve_refuses_an_invalid_file_in_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "colour = 'blue'\n")
    result = labrecog("serve", "--config", str(path), "--rules", str(DEMO))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "colour: unknown key" in result.stderr


def test_serve_refuses_issuers_and_the_insecure_flag_together(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    result = labrecog("serve", "--config", str(path), "--rules", str(DEMO), "--insecure-no-auth")
    assert result.returncode == 2
    assert "--insecure-no-auth" in result.stderr and "issuers" in result.stderr


def _run(args: list[str], port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "labrecog", "serve", *args, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _stop(process: subprocess.Popen[str]) -> list[dict[str, object]]:
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def test_insecure_mode_warns_on_every_start(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "feedback.sqlite3"
    origin = "https://sandbox.cds-hooks.org"
    args = ["--rules", str(DEMO), "--feedback-db", str(db), "--insecure-no-auth"]
    process = _run([*args, "--cors-origin", origin], port)  # repeatable options too
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process=process)
        answer = httpx.get(f"http://127.0.0.1:{port}/cds-services", headers={"Origin": origin})
        assert answer.headers["access-control-allow-origin"] == origin
    finally:
        lines = _stop(process)
    warning = next(r for r in lines if r["event"] == "insecure_no_auth")
    assert warning["level"] == "warning"
    starting = next(r for r in lines if r["event"] == "starting")
    assert starting["auth"] == "none" and starting["cors_origins"] == [origin]


def test_serve_with_the_example_config_and_a_made_token(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE_CONFIG, tmp_path / "serve.toml")
    keygen(tmp_path / "auth" / "keys")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [
        "--config",
        str(tmp_path / "serve.toml"),
        "--rules",  # the copy's ../rules/demo is not there
        str(DEMO),
        "--public-url",
        url,
        "--feedback-db",
        str(tmp_path / "feedback.sqlite3"),
    ]
    process = _run(args, port)
    try:
        wait_healthy(url, process=process)
        service = f"{url}/cds-services/labrecog-order-select"
        body = EXAMPLE.read_bytes()
        headers = {"content-type": "application/json"}
        refused = httpx.post(service, content=body, headers=headers, timeout=30)
        assert refused.status_code == 401
        raw = mint(tmp_path / "auth" / "keys", service)
        headers["authorization"] = f"Bearer {raw}"
        answered = httpx.post(service, content=body, headers=headers, timeout=30)
        assert answered.status_code == 200 and answered.json()["cards"]
    finally:
        lines = _stop(process)
    starting = next(r for r in lines if r["event"] == "starting")
    assert starting["auth"] == "jwt" and starting["port"] == port
    assert not [r for r in lines if r["event"] == "insecure_no_auth"]
    failures = [r.get("auth_failure") for r in lines if r.get("status") == 401]
    assert failures == ["missing_token"]
    assert raw not in json.dumps(lines)
