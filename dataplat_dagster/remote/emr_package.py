"""The files an EMR job needs, uploaded to S3: the entry point and an archive of the project.

The Python environment (dataplat_dagster and its dependencies) is not built here: it is the
application's image or a venv-pack archive made once per release (README, "Spark on a
cluster"). What changes from run to run is the project: its declarations (`assets/`,
`resources/`) and its own Python modules next to `definitions.py`. Both uploads are named by
their content, so submitting the same project again uploads nothing new.
"""

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataplat_dagster.remote import emr_driver

DECLARATION_FOLDERS = ("assets", "resources")
NOT_USER_CODE = {"dataplat_dagster", "tests", "bench", "demo", "history"}
ENTRY_POINT_NAME = "dataplat_emr_entry.py"
PROJECT_ARCHIVE_NAME = "project.zip"


@dataclass(frozen=True)
class JobArtifacts:
    """Where the job's files are on S3."""

    entry_point_uri: str
    project_archive_uri: str


def project_archive(root: Path) -> bytes:
    """A zip of the project's declarations and its own Python modules, paths relative to `root`.

    Entries carry a fixed date, so the same files always make the same bytes (and S3 key).
    """
    files = sorted(_project_files(root))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            entry = zipfile.ZipInfo(path.relative_to(root).as_posix(), (1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, path.read_bytes())
    return buffer.getvalue()


def _project_files(root: Path) -> list[Path]:
    files = [
        path
        for folder in DECLARATION_FOLDERS
        for path in (root / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    files += [path for path in root.glob("*.py")]
    for package in root.iterdir():
        if (package / "__init__.py").is_file() and package.name not in NOT_USER_CODE:
            files += [p for p in package.rglob("*.py") if "__pycache__" not in p.parts]
    return files


def upload_artifacts(s3: Any, artifacts_uri: str, root: Path) -> JobArtifacts:
    """Upload the entry point and the project archive under `artifacts_uri` (content-named)."""
    bucket, _, prefix = artifacts_uri.removeprefix("s3://").partition("/")
    if not artifacts_uri.startswith("s3://") or not bucket:
        raise ValueError(f"artifacts_uri must be an s3://bucket/prefix URI, not {artifacts_uri!r}")
    entry_point = Path(emr_driver.__file__).read_bytes()
    uris = []
    for name, body in (
        (ENTRY_POINT_NAME, entry_point),
        (PROJECT_ARCHIVE_NAME, project_archive(root)),
    ):
        key = "/".join(part for part in (prefix.strip("/"), _digest(body), name) if part)
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        uris.append(f"s3://{bucket}/{key}")
    return JobArtifacts(entry_point_uri=uris[0], project_archive_uri=uris[1])


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:16]
