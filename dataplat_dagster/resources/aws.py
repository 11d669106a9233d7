"""Connection settings shared by every AWS client, and secrets from SSM Parameter Store.

Every client takes the profile's region and `endpoint_url` (so the aws profile runs against a
local AWS endpoint as well as a real account) and botocore's standard or adaptive retries.
Credentials come from the environment (`{env: NAME}` in YAML, a `dg.EnvVar`) or, when none
is given, from boto3's default chain (instance role, AWS_PROFILE, ...): never from YAML.
"""

from typing import Any, Literal

import dagster as dg
from pydantic import Field, PrivateAttr

SSM_PREFIX = "ssm:"


class AwsResource(dg.ConfigurableResource):
    """Region, endpoint, retries and credentials for the AWS clients of one profile."""

    region_name: str = Field("eu-west-1", description="AWS region")
    endpoint_url: str | None = Field(
        None, description="a local AWS endpoint (moto); empty: the real one"
    )
    retry_mode: Literal["standard", "adaptive", "legacy"] = "standard"
    max_attempts: int = Field(8, ge=1, description="attempts per request, retries included")
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    _clients: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def endpoint(self) -> str | None:
        return self.endpoint_url or None

    def _credentials(self) -> dict[str, str]:
        values = {
            "aws_access_key_id": self.aws_access_key_id,
            "aws_secret_access_key": self.aws_secret_access_key,
            "aws_session_token": self.aws_session_token,
        }
        return {key: value for key, value in values.items() if value}

    def client(self, service: str) -> Any:
        """A boto3 client for `service`, created once per resource instance."""
        if service not in self._clients:
            # imported here: boto3 takes 0.1-0.3 s to import, which a local profile never needs
            import boto3
            from botocore.config import Config as BotoConfig

            session = boto3.session.Session(region_name=self.region_name, **self._credentials())
            config = BotoConfig(
                retries={"mode": self.retry_mode, "total_max_attempts": self.max_attempts},
                connect_timeout=10,
                read_timeout=60,
            )
            self._clients[service] = session.client(
                service, endpoint_url=self.endpoint, config=config
            )
        return self._clients[service]

    def s3fs(self) -> Any:
        """An s3fs filesystem (through UPath) with the same endpoint, region, retries and keys."""
        from upath import UPath

        credentials = self._credentials()
        options: dict[str, Any] = {
            "client_kwargs": {"region_name": self.region_name},
            "config_kwargs": {
                "retries": {"mode": self.retry_mode, "total_max_attempts": self.max_attempts}
            },
        }
        if self.endpoint:
            options["endpoint_url"] = self.endpoint
        if "aws_access_key_id" in credentials:
            options["key"] = credentials["aws_access_key_id"]
            options["secret"] = credentials.get("aws_secret_access_key")
            options["token"] = credentials.get("aws_session_token")
        filesystem = UPath("s3://", **options).fs
        # botocore does the retrying (mode and attempts above); s3fs's own loop on top would
        # multiply the attempts and the waits
        filesystem.retries = 1
        return filesystem

    def secret(self, value: str | None) -> str | None:
        """`ssm:<parameter name>` is read (decrypted) from Parameter Store; other values pass through."""
        if value is None or not value.startswith(SSM_PREFIX):
            return value
        name = value[len(SSM_PREFIX) :]
        response = self.client("ssm").get_parameter(Name=name, WithDecryption=True)
        return response["Parameter"]["Value"]
