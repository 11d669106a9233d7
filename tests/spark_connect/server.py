"""A real Spark Connect server, started from the pyspark package's own `sbin/` scripts.

The pip-installed pyspark ships a complete Spark distribution (jars/, bin/, sbin/), so the
package folder is SPARK_HOME. The server runs as a daemon (`spark-daemon.sh`); its pid and log
files go to a folder of the caller's, so servers of concurrent test sessions never share them.
"""

import os
import socket
import subprocess
import time
from pathlib import Path

import pyspark

SPARK_HOME = Path(pyspark.__file__).resolve().parent
START_TIMEOUT_SECONDS = 120


class ConnectServer:
    """One Spark Connect server on 127.0.0.1:`port`, `local[2]`, with its state under `state`."""

    def __init__(self, state: Path, port: int) -> None:
        self.state = state
        self.port = port
        self.url = f"sc://127.0.0.1:{port}"

    def _env(self) -> dict[str, str]:
        # a client setting in the environment (even empty) makes spark-submit refuse `--master`
        inherited = {
            name: value
            for name, value in os.environ.items()
            if name not in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "SPARK_HOME")
        }
        return {
            **inherited,
            "SPARK_HOME": str(SPARK_HOME),
            "SPARK_PID_DIR": str(self.state / "pid"),
            "SPARK_LOG_DIR": str(self.state / "logs"),
        }

    def start(self) -> None:
        """Start the daemon and wait until its gRPC port accepts connections."""
        subprocess.run(
            [
                str(SPARK_HOME / "sbin" / "start-connect-server.sh"),
                "--master",
                "local[2]",
                "--conf",
                f"spark.connect.grpc.binding.port={self.port}",
                "--conf",
                "spark.connect.grpc.binding.address=127.0.0.1",
                "--conf",
                "spark.sql.shuffle.partitions=2",
                "--conf",
                "spark.ui.enabled=false",
                "--conf",
                f"spark.local.dir={self.state / 'scratch'}",
            ],
            env=self._env(),
            check=True,
            capture_output=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._answers():
            if time.monotonic() > deadline or not self._alive():
                self.stop()
                raise RuntimeError(f"Spark Connect server did not start:\n{self.log()}")
            time.sleep(0.5)

    def stop(self) -> None:
        subprocess.run(
            [str(SPARK_HOME / "sbin" / "stop-connect-server.sh")],
            env=self._env(),
            check=False,
            capture_output=True,
        )

    def log(self) -> str:
        """The server's output (the daemon's .out file), for failure messages."""
        return "\n".join(path.read_text() for path in (self.state / "logs").glob("*.out"))

    def _answers(self) -> bool:
        with socket.socket() as probe:
            probe.settimeout(1)
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def _alive(self) -> bool:
        pid_files = list((self.state / "pid").glob("*.pid"))
        if not pid_files:
            return False
        try:
            os.kill(int(pid_files[0].read_text().strip()), 0)
        except (OSError, ValueError):
            return False
        return True
