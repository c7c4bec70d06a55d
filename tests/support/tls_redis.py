"""A real TLS-only redis-server on a free port, with a throwaway CA and server certificate.

The certificates come from the ``openssl`` CLI: a CA, and a server certificate it signs for
``127.0.0.1`` and ``localhost``. The server listens only on its TLS port (``port 0``), does not ask clients
for certificates (``tls-auth-clients no``: server-auth TLS, as managed Redis services offer) and requires
a password. :class:`TLSUnsupported` means this redis-server was built without TLS.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.support.wait import free_port

_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


class TLSUnsupported(RuntimeError):
    """redis-server refused the TLS options: it was built without TLS."""


def _openssl(*args: str, cwd: Path) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        raise RuntimeError("the openssl CLI is needed (apt-get install openssl)")
    subprocess.run([binary, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(directory: Path, name: str = "ca") -> tuple[Path, Path]:
    """A self-signed CA valid for a day: (``{name}.pem``, ``{name}.key``) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    cnf = directory / "openssl.cnf"
    cnf.write_text(_OPENSSL_CNF)
    pem, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl(
        *("req", "-x509", "-new", "-nodes", "-config", str(cnf), "-extensions", "ca"),
        *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
        *("-keyout", str(key), "-out", str(pem), "-days", "1", "-subj", f"/CN=emostream test {name}"),
        cwd=directory,
    )
    return pem, key


def make_server_cert(directory: Path, ca_pem: Path, ca_key: Path) -> tuple[Path, Path]:
    """A server certificate for 127.0.0.1 and localhost signed by the CA: (``server.pem``, ``server.key``)."""
    cnf = directory / "openssl.cnf"
    cnf.write_text(_OPENSSL_CNF)
    pem, key, csr = directory / "server.pem", directory / "server.key", directory / "server.csr"
    _openssl(
        *("req", "-new", "-nodes", "-config", str(cnf)),
        *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
        *("-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost"),
        cwd=directory,
    )
    _openssl(
        *("x509", "-req", "-in", str(csr), "-CA", str(ca_pem), "-CAkey", str(ca_key), "-set_serial", "2"),
        *("-days", "1", "-extfile", str(cnf), "-extensions", "server", "-out", str(pem)),
        cwd=directory,
    )
    return pem, key


def _refuses_tls_options(output: str) -> bool:
    """Whether redis-server's startup error says it does not know the TLS options (a build without TLS):
    a config error naming a ``tls-`` directive, not a TLS setup failure such as a bad certificate."""
    text = output.lower()
    unknown = ("bad directive", "unknown option", "not supported", "unsupported", "no tls")
    return "tls" in text and any(reason in text for reason in unknown)


@dataclass
class TLSRedis:
    """A TLS-only redis-server in ``home`` (certificates, config, log). Raises :class:`TLSUnsupported`
    when this redis-server has no TLS, RuntimeError when it does not start for another reason."""

    home: Path
    password: str = "tls-test-password"

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.ca, ca_key = make_ca(self.home)
        self.cert, self.key = make_server_cert(self.home, self.ca, ca_key)
        self.port = free_port()
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("redis-server is needed (apt-get install redis-server)")
        config = self.home / "redis.conf"  # a file, so the password never shows in the process list
        config.write_text(
            f"port 0\ntls-port {self.port}\nbind 127.0.0.1\n"
            f"tls-cert-file {self.cert}\ntls-key-file {self.key}\ntls-ca-cert-file {self.ca}\n"
            f"tls-auth-clients no\nrequirepass {self.password}\n"
            f"dir {self.home}\nsave ''\nappendonly no\nloglevel warning\n"
        )
        args = [server, str(config)]
        setpriv = shutil.which("setpriv")
        if setpriv:  # util-linux: the server gets SIGTERM if the test process dies, even by SIGKILL
            args = [setpriv, "--pdeathsig", "TERM", *args]
        self.log = self.home / "redis.out"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        self._wait_ready()

    @property
    def url(self) -> str:
        """``rediss://127.0.0.1:PORT/0``, without credentials."""
        return f"rediss://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """A client that trusts the CA and knows the password, made without the project's code."""
        return redis.Redis(
            host="127.0.0.1", port=self.port, ssl=True, ssl_ca_certs=str(self.ca), password=self.password
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def _wait_ready(self, timeout_s: float = 30) -> None:
        client = self.client()
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                try:
                    client.ping()
                    return
                except (redis.ConnectionError, redis.TimeoutError):
                    exited = self.proc.poll() is not None
                    if exited or time.monotonic() > deadline:
                        self.stop()
                        out = self.output().strip()
                        if exited and _refuses_tls_options(out):
                            raise TLSUnsupported(f"redis-server refused the TLS options: {out}") from None
                        raise RuntimeError(f"TLS redis-server did not start: {out}") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
