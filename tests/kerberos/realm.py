"""A throwaway Kerberos realm and a PostgreSQL cluster that authenticates through it.

MIT Kerberos' KDC (Debian's krb5-kdc) on a free port with its database, config and keytabs in a
temp folder, pointed at by KRB5_CONFIG/KRB5_KDC_PROFILE; PostgreSQL 15 (initdb, pg_ctl) run as
the `postgres` OS user when the tests run as root (initdb refuses root), with `gss` in pg_hba.
"""

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REALM = "DATAPLAT.TEST"
USER = "extractor"  # the database role and the user principal's name


def _server_binaries() -> Path:
    """PostgreSQL's initdb/pg_ctl: on the PATH, else Debian's newest /usr/lib/postgresql/N/bin."""
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent  # a symlink from /usr/local/bin, say
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
    )
    if not versions:
        raise RuntimeError("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
    return versions[-1].parent


PG_BIN = _server_binaries()


@dataclass(frozen=True)
class KerberizedPostgres:
    folder: Path
    krb5_config: Path
    port: int
    user_keytab: Path
    principal: str
    other_keytab: Path  # a keytab of another principal: the server does not know that role

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def psql(self, *statements: str, database: str = "postgres") -> None:
        """Statements as the cluster's superuser, over its Unix socket (trust)."""
        socket = str(self.folder / "pgdata")
        for statement in statements:
            _as_postgres(
                [
                    str(PG_BIN / "psql"),
                    "-h",
                    socket,
                    "-p",
                    str(self.port),
                    "-U",
                    "postgres",
                    "-d",
                    database,
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-qc",
                    statement,
                ],
                self._env,
            )

    @property
    def _env(self) -> dict[str, str]:
        return {**os.environ, "KRB5_CONFIG": str(self.krb5_config)}


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_postgres(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    done = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr or done.stdout}")
    return done


def _wait_for_port(port: int, process: subprocess.Popen) -> None:
    """Until the KDC accepts TCP connections (it binds within milliseconds of starting)."""
    import socket

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"krb5kdc exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)  # polling a port, not waiting for a guess
    raise RuntimeError(f"krb5kdc does not listen on port {port} after 10 s")


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr or done.stdout}")


@contextmanager
def kerberized_postgres(folder: Path) -> Iterator[KerberizedPostgres]:
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)  # the postgres OS user reads its keytab and owns its data folder here
    kdc_port, pg_port = free_port(), free_port()
    krb5_config = folder / "krb5.conf"
    krb5_config.write_text(
        f"""[libdefaults]
    default_realm = {REALM}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    dns_canonicalize_hostname = false
    udp_preference_limit = 1
[realms]
    {REALM} = {{
        kdc = 127.0.0.1:{kdc_port}
    }}
[domain_realm]
    127.0.0.1 = {REALM}
"""
    )
    kdc_profile = folder / "kdc.conf"
    kdc_profile.write_text(
        f"""[kdcdefaults]
    kdc_ports = {kdc_port}
    kdc_tcp_ports = {kdc_port}
[realms]
    {REALM} = {{
        database_name = {folder}/principal
        key_stash_file = {folder}/stash
        acl_file = {folder}/kadm5.acl
        supported_enctypes = aes256-cts-hmac-sha1-96:normal
        max_life = 1h
    }}
[logging]
    kdc = FILE:{folder}/kdc.log
"""
    )
    env = {**os.environ, "KRB5_CONFIG": str(krb5_config), "KRB5_KDC_PROFILE": str(kdc_profile)}
    _run(["kdb5_util", "create", "-s", "-r", REALM, "-P", "master-key-of-the-test"], env)
    server_keytab, user_keytab = folder / "postgres.keytab", folder / "extractor.keytab"
    other_keytab = folder / "stranger.keytab"
    for command in (
        "addprinc -randkey postgres/127.0.0.1",
        f"ktadd -k {server_keytab} postgres/127.0.0.1",
        f"addprinc -randkey {USER}",
        f"ktadd -k {user_keytab} {USER}",
        "addprinc -randkey stranger",
        f"ktadd -k {other_keytab} stranger",
    ):
        _run(["kadmin.local", "-r", REALM, "-q", command], env)
    shutil.chown(server_keytab, "postgres") if os.geteuid() == 0 else None
    kdc = subprocess.Popen(
        ["krb5kdc", "-n", "-r", REALM, "-P", str(folder / "kdc.pid")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    data = folder / "pgdata"
    try:
        _wait_for_port(kdc_port, kdc)
        data.mkdir()
        if os.geteuid() == 0:
            shutil.chown(data, "postgres")
        _as_postgres(
            [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"],
            env,
        )
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {pg_port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{data}'\nkrb_server_keyfile = '{server_keytab}'\n"
                "fsync = off\n"
            )
        (data / "pg_hba.conf").write_text(
            "local all all trust\n"
            "hostgssenc all all 127.0.0.1/32 gss include_realm=0\n"
            "hostnogssenc all all 127.0.0.1/32 gss include_realm=0\n"
        )
        _as_postgres(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(data / "postgres.log"),
                "-w",
                "start",
            ],
            env,
        )
        try:
            cluster = KerberizedPostgres(
                folder, krb5_config, pg_port, user_keytab, f"{USER}@{REALM}", other_keytab
            )
            cluster.psql(f"create role {USER} login", f"create database shop owner {USER}")
            yield cluster
        finally:
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], env)
    finally:
        kdc.terminate()
        kdc.wait(timeout=10)
