"""The reference deployment in deploy/ works as written: the systemd units verify, and their
commands, run as the units run them, serve the site behind deploy/nginx/tillit.conf over TLS,
two web processes and a worker sharing one database and Redis. Several machines upgrading at
once apply each migration once."""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import (
    CONFIRM_LINK,
    ON_POSTGRES,
    csrf_token,
    partner_leads,
    throwaway_database,
    until,
)
from tests.processes import ReferencePartner, free_port, stop, tillit, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TILLIT = str(Path(sys.executable).parent / "tillit")
UNITS = ("tillit-migrate.service", "tillit-web@.service", "tillit-worker@.service")


def unit(name: str) -> dict[str, list[str]]:
    """A unit file's settings (key → values, in order)."""
    settings: dict[str, list[str]] = {}
    for line in (DEPLOY / "systemd" / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k: v for k, v in pairs if not k.startswith("#")}


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd-analyze")
def test_the_systemd_units_verify(tmp_path):
    for name in (*UNITS, "tillit.target"):
        text = (
            (DEPLOY / "systemd" / name).read_text().replace("/opt/tillit/.venv/bin/tillit", TILLIT)
        )
        (tmp_path / name.replace("@.", "@1.")).write_text(text)
    names = [str(p) for p in sorted(tmp_path.iterdir())]
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *names], capture_output=True, text=True
    )
    complaints = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        # The target wants instances that are not in this directory.
        if "tillit.target" not in line and "Failed to" not in line
    ]
    assert result.returncode == 0 or not complaints, complaints
    assert not complaints, complaints


def self_signed(where: Path, host: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    chain, private = where / "fullchain.pem", where / "privkey.pem"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return chain, private


class Deployment:
    """deploy/ on this machine: the units' commands and environment, nginx with the site file
    (only the server name, certificate paths, ports and log path replaced)."""

    def __init__(self, root: Path, database_url: str | None, smtp_port: int) -> None:
        self.root = root
        self.https_port, self.http_port = free_port(), free_port()
        self.web_ports = (free_port(), free_port())
        self.url = f"https://localhost:{self.https_port}"
        self.data = root / "var-lib-tillit"  # what StateDirectory=tillit makes
        self.data.mkdir(parents=True, mode=0o700)
        self.credentials = root / "credentials"
        self.credentials.mkdir(parents=True, mode=0o700)
        self.logs = root / "logs"
        self.logs.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TILLIT_", "DATABASE"))}
        env.update(env_file(DEPLOY / "tillit.env.example"))
        env.update(
            {
                "TILLIT_SITE_URL": self.url,
                "TILLIT_ALLOWED_HOSTS": "localhost",
                "TILLIT_REDIS_URL": "redis://127.0.0.1:6379/4",
                "TILLIT_SMTP_HOST": "127.0.0.1",
                "TILLIT_SMTP_PORT": str(smtp_port),
                "TILLIT_SMTP_STARTTLS": "false",
                "TILLIT_WEB_WORKERS": "1",
                "TILLIT_WEB_THREADS": "2",
                "TILLIT_SIGNUPS_PER_IP_PER_HOUR": "3",
                "TILLIT_METRICS_TOKEN": "metrics-token-for-tests",
            }
        )
        del env["TILLIT_OPERATOR_FILE"]  # the example data map shipped in the package
        env.pop("DATABASE_URL")
        if database_url:
            env["DATABASE_URL"] = database_url
        self.env = env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def unit_env(self, name: str) -> dict[str, str]:
        env = dict(self.env)
        for assignment in unit(name).get("Environment", []):
            key, value = assignment.split("=", 1)
            env[key] = value.replace("%d", str(self.credentials))
        env["TILLIT_DATA_DIR"] = str(self.data)  # StateDirectory=tillit
        return env

    def exec_start(self, name: str, instance: str = "") -> list[str]:
        (line,) = unit(name)["ExecStart"]
        args = shlex.split(line.replace("%i", instance))
        assert args[0] == "/opt/tillit/.venv/bin/tillit"
        return args[1:]

    def install_keys(self) -> None:
        """`tillit init` once, on the operator's own machine; its keys become the credentials
        that every unit loads (LoadCredential=)."""
        env = {
            **self.unit_env("tillit-migrate.service"),
            "TILLIT_DATA_DIR": str(self.root / "init"),
        }
        del env["TILLIT_KEK_FILE"], env["TILLIT_SECRET_KEY_FILE"], env["TILLIT_LOG_KEY_FILE"]
        env.pop("DATABASE_URL", None)  # its own SQLite: the shared database stays empty
        subprocess.run([TILLIT, "init"], env=env, check=True, capture_output=True, timeout=120)
        credentials = {
            *unit("tillit-web@.service")["LoadCredential"],
            *unit("tillit-worker@.service")["LoadCredential"],
        }
        for credential in credentials:
            name, source = credential.split(":", 1)
            origin = {
                "keyring.json": "keyring.json",
                "secret_key": "secret_key",
                "log-key.json": "log-key.json",
            }[name]
            assert source.startswith("/etc/tillit/")
            shutil.copy(self.root / "init" / "keys" / origin, self.credentials / name)
            (self.credentials / name).chmod(0o400)

    def run(self, name: str, instance: str = "", *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [TILLIT, *self.exec_start(name, instance), *extra],
            env=self.unit_env(name),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def start(self, name: str, instance: str) -> None:
        proc = tillit(
            *self.exec_start(name, instance),
            env=self.unit_env(name),
            log=self.logs / f"{name.replace('@.service', '')}-{instance}.log",
        )
        self.procs[f"{name}:{instance}"] = proc
        if name.startswith("tillit-web"):
            wait_for(f"http://127.0.0.1:{instance}/healthz", proc, timeout=60)

    def start_nginx(self) -> None:
        chain, key = self_signed(self.root, "localhost")
        proxy = (DEPLOY / "nginx" / "tillit_proxy.conf").read_text()
        (self.root / "tillit_proxy.conf").write_text(proxy)
        site = (DEPLOY / "nginx" / "tillit.conf").read_text()
        replacements = {
            "www.example.com": "localhost",
            "/etc/ssl/tillit/fullchain.pem": str(chain),
            "/etc/ssl/tillit/privkey.pem": str(key),
            "/etc/nginx/tillit_proxy.conf": str(self.root / "tillit_proxy.conf"),
            "/var/log/nginx/tillit.access.log": str(self.logs / "access.log"),
            "127.0.0.1:8001": f"127.0.0.1:{self.web_ports[0]}",
            "127.0.0.1:8002": f"127.0.0.1:{self.web_ports[1]}",
            "listen 443 ssl": f"listen 127.0.0.1:{self.https_port} ssl",
            "listen 80;": f"listen 127.0.0.1:{self.http_port};",
        }
        for old, new in replacements.items():
            assert old in site, f"deploy/nginx/tillit.conf no longer has {old!r}"
            site = site.replace(old, new)
        (self.root / "tillit.conf").write_text(site)
        (self.root / "nginx.conf").write_text(
            f"daemon off;\nworker_processes 1;\npid {self.root}/nginx.pid;\n"
            f"error_log {self.logs}/nginx-error.log warn;\nevents {{}}\n"
            f"http {{\n  client_body_temp_path {self.root}/body;\n"
            f"  proxy_temp_path {self.root}/proxy;\n  include {self.root}/tillit.conf;\n}}\n"
        )
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        check = subprocess.run(
            [nginx, "-t", "-p", str(self.root), "-c", str(self.root / "nginx.conf")],
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0, check.stderr
        self.procs["nginx"] = subprocess.Popen(
            [nginx, "-p", str(self.root), "-c", str(self.root / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=open(self.logs / "nginx.out", "ab"),  # noqa: SIM115
            start_new_session=True,
        )

    def client(self, source: str = "127.0.0.1") -> httpx.Client:
        transport = httpx.HTTPTransport(local_address=source, verify=False)
        return httpx.Client(
            base_url=self.url, transport=transport, timeout=20, follow_redirects=False
        )

    def stop(self, key: str) -> None:
        proc = self.procs.pop(key, None)
        if proc is not None:
            stop(proc)

    def stop_all(self) -> None:
        for key in list(self.procs):
            self.stop(key)


def sign_up(http: httpx.Client, url: str, email: str, **headers: str) -> httpx.Response:
    form = http.get("/")
    assert form.status_code == 200, form.text
    fields = {"name": "Drift Person", "email": email, "country": "NO", "consent_partner": "on"}
    return http.post(
        "/",
        data={**fields, "csrfmiddlewaretoken": csrf_token(form.text)},
        headers={"Referer": url + "/", **headers},
    )


@pytest.mark.skipif(not ON_POSTGRES, reason="the reference deployment is on PostgreSQL")
@pytest.mark.skipif(not shutil.which("nginx"), reason="needs nginx (.ci/run installs it)")
@pytest.mark.promise("P3")
@pytest.mark.promise("P17")
def test_the_reference_deployment_serves_behind_nginx(tmp_path, smtp, database_url):
    site = Deployment(tmp_path / "deploy", database_url, smtp.port)
    partner = ReferencePartner(tmp_path / "partner").start()
    try:
        site.install_keys()
        migrated = site.run("tillit-migrate.service")
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        secret = tmp_path / "partner-secret"
        secret.write_text(partner.secret)
        add = subprocess.run(
            [TILLIT, "partners", "add", "megler", "--name", "Megler Eksempel AS",
             "--endpoint", partner.url, "--privacy-url", partner.url + "/privacy",
             "--countries", "NO", "--dpa-signed-on", "2026-01-01",
             "--compliance-attested-on", "2026-01-01", "--secret-file", str(secret), "--live"],
            env=site.unit_env("tillit-migrate.service"), capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        assert add.returncode == 0, add.stdout + add.stderr
        for port in site.web_ports:
            site.start("tillit-web@.service", str(port))
        site.start("tillit-worker@.service", "1")
        site.start_nginx()
        until(lambda: _answers(site), 30, "nginx answers")

        # http is sent to https; https carries HSTS and Secure cookies.
        with httpx.Client(timeout=10) as plain:
            moved = plain.get(f"http://127.0.0.1:{site.http_port}/", headers={"Host": "localhost"})
        assert moved.status_code == 308
        assert moved.headers["location"].startswith("https://localhost")
        visitor = site.client("127.0.0.2")
        front = visitor.get("/")
        assert front.headers["strict-transport-security"] == "max-age=31536000"
        assert "secure" in front.headers["set-cookie"].lower()

        # A sign-up through the proxy; its e-mail links back to https; confirming it (through
        # whichever web process) delivers the lead.
        answer = sign_up(visitor, site.url, "drift-1@example.com")
        assert answer.status_code == 302 and answer.headers["location"] == "/sent/"
        link = smtp.wait_for("drift-1@example.com").link(
            CONFIRM_LINK.replace(r"http://127\.0\.0\.1", "https://localhost")
        )
        page = visitor.get(link)
        confirmed = visitor.post(
            link,
            data={"csrfmiddlewaretoken": csrf_token(page.text)},
            headers={"Referer": link},
        )
        assert confirmed.status_code == 200, confirmed.text
        until(lambda: partner_leads(partner), 30, "the lead reaches the partner")

        # The per-visitor limit counts the visitor's address as nginx saw it (not nginx's own,
        # and not one the visitor claims): 3 an hour here.
        for i in (2, 3):
            assert sign_up(visitor, site.url, f"drift-{i}@example.com").status_code == 302
        forged = {"X-Forwarded-For": "203.0.113.9"}
        assert sign_up(visitor, site.url, "drift-4@example.com", **forged).status_code == 429
        other = site.client("127.0.0.3")
        assert sign_up(other, site.url, "drift-5@example.com").status_code == 302

        # Metrics: only from the machine itself, and only with the token.
        token = {"Authorization": "Bearer metrics-token-for-tests"}
        assert visitor.get("/metrics", headers=token).status_code == 403
        local = site.client("127.0.0.1")
        assert local.get("/metrics", headers=token).status_code == 200

        # One web process goes away; the other serves every request.
        site.stop(f"tillit-web@.service:{site.web_ports[0]}")
        assert [visitor.get("/").status_code for _ in range(6)] == [200] * 6

        # The access log names no visitor and no path (paths carry tokens).
        site.stop("nginx")
        access = (site.logs / "access.log").read_text()
        assert access.count("\n") >= 10
        assert "127.0.0.2" not in access and "127.0.0.3" not in access
        assert "/confirm/" not in access and "example.com" not in access
        for client in (visitor, other, local):
            client.close()
    finally:
        site.stop_all()
        partner.stop()


def _answers(site: Deployment) -> bool:
    try:
        with site.client() as http:
            return http.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.promise("P16")
def test_machines_upgrading_at_once_apply_each_migration_once(tmp_path):
    """Three machines start the new version together, each running `tillit migrate` (the
    migrate unit) against one empty database: all succeed, and the schema is whole."""
    with throwaway_database() as url:
        site = Deployment(tmp_path / "deploy", url, free_port())
        site.install_keys()
        env = site.unit_env("tillit-migrate.service")
        runs = [
            subprocess.Popen(
                [TILLIT, *site.exec_start("tillit-migrate.service")],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(3)
        ]
        outputs = [run.communicate(timeout=180)[0] for run in runs]
        assert [run.returncode for run in runs] == [0, 0, 0], "\n".join(outputs)
        shown = subprocess.run(
            [TILLIT, "showmigrations", "--plan"], env=env, capture_output=True, text=True
        )
        assert shown.returncode == 0
        assert re.findall(r"^\[ \]", shown.stdout, re.M) == [], "a migration was not applied"
