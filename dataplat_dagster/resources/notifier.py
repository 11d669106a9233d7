"""Notifications (output generated, failures, failed checks, file arrivals) as email.

`NotifierResource` builds the message; implementations only deliver it: `OutboxNotifier`
writes `.eml` files to a local folder, the AWS profile sends through SES or SMTP.
"""

import logging
import smtplib
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import dagster as dg
from pydantic import Field

from dataplat_dagster.failure_summary import warn_in_summary
from dataplat_dagster.resources.aws import AwsResource

LOGGER = logging.getLogger(__name__)

# Header lines up to RFC 5322's 998 characters: folding a long subject right after "Subject:"
# makes some clients (and Python's own parser) show it with a leading space.
MESSAGE_POLICY = policy.default.clone(max_line_length=998)


@dataclass(frozen=True)
class Notice:
    """What to tell people; `recipients` add to the notifier's default list."""

    kind: str
    subject: str
    body: str
    recipients: tuple[str, ...] = ()


class NotifierResource(dg.ConfigurableResource, ABC):
    """Sends notices as email messages."""

    sender: str = Field(description="From: address")
    recipients: list[str] = Field(default_factory=list, description="who receives every notice")
    subject_prefix: str = "[dataplat]"

    def send(self, notice: Notice) -> EmailMessage:
        """Build the message for `notice` and deliver it; returns the message sent."""
        recipients = list(dict.fromkeys([*self.recipients, *notice.recipients]))
        if not recipients:
            raise ValueError(
                f"notice {notice.subject!r} has no recipients: set notifier.recipients in the profile"
            )
        message = EmailMessage(policy=MESSAGE_POLICY)
        message["From"] = self.sender
        message["To"] = ", ".join(recipients)
        message["Subject"] = f"{self.subject_prefix} {notice.subject}".strip()
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or "dataplat")
        message["X-Dataplat-Kind"] = notice.kind
        message.set_content(notice.body)
        try:
            self._deliver(message)
        except Exception as exc:  # any transport failure: the data is fine
            # A notice that cannot be sent does not undo or fail the work it reports on: the
            # outputs stay, the run's own status stands, and the summary says it was not sent.
            text = " ".join(str(exc).split()) or type(exc).__name__
            warn_in_summary(
                LOGGER,
                f"{notice.kind} notice {notice.subject!r} was not sent through "
                f"{self.transport()}: {type(exc).__name__}: {text}. {self.remedy()}",
            )
        return message

    def transport(self) -> str:
        """Where messages go, for the line that says one was not sent."""
        return type(self).__name__

    def remedy(self) -> str:
        return "Check the notifier settings in resources/<env>.yaml."

    @abstractmethod
    def _deliver(self, message: EmailMessage) -> None:
        """Hand the message to the transport."""


class OutboxNotifier(NotifierResource):
    """Writes each message as an `.eml` file to an outbox folder (open it with any mail client)."""

    folder: str = Field(description="outbox folder")

    def _deliver(self, message: EmailMessage) -> None:
        folder = Path(self.folder)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{message['X-Dataplat-Kind']}-{uuid.uuid4().hex[:6]}.eml"
        temporary = folder / f".{name}.tmp"
        temporary.write_bytes(bytes(message))
        temporary.replace(folder / name)  # readers never see a half-written message

    def transport(self) -> str:
        return f"the outbox folder {self.folder}"

    def remedy(self) -> str:
        return "Free space or fix the permissions of that folder."

    def messages(self) -> list[EmailMessage]:
        """The messages in the outbox, oldest first."""
        return [
            message_from_bytes(path.read_bytes(), policy=policy.default)  # type: ignore[misc]
            for path in sorted(Path(self.folder).glob("*.eml"))
        ]


class SesNotifier(NotifierResource):
    """Sends each message through Amazon SES (`send_raw_email`); the sender must be verified."""

    aws: dg.ResourceDependency[AwsResource]
    configuration_set: str | None = None

    def transport(self) -> str:
        return f"Amazon SES ({self.aws.region_name})"

    def remedy(self) -> str:
        return "Check that the sender is verified in SES and the credentials may send."

    def _deliver(self, message: EmailMessage) -> None:
        recipients = [address.strip() for address in message["To"].split(",")]
        extra = {"ConfigurationSetName": self.configuration_set} if self.configuration_set else {}
        self.aws.client("ses").send_raw_email(
            Source=self.sender,
            Destinations=recipients,
            RawMessage={"Data": bytes(message)},
            **extra,
        )


class SmtpNotifier(NotifierResource):
    """Sends each message to an SMTP server (standard library); the password from env or SSM."""

    host: str
    port: int = 587
    username: str | None = None
    password: str | None = Field(None, description="{env: NAME} or {ssm: /parameter/name}")
    starttls: bool = True
    ssl: bool = False
    timeout: float = 30.0
    aws: dg.ResourceDependency[AwsResource]

    def transport(self) -> str:
        user = f" as {self.username}" if self.username else ""
        return f"the SMTP server {self.host}:{self.port}{user}"

    def remedy(self) -> str:
        return "Check that the server is up and the notifier's host, port, username and password."

    def _deliver(self, message: EmailMessage) -> None:
        password = self.aws.secret(self.password)
        connect = smtplib.SMTP_SSL if self.ssl else smtplib.SMTP
        with connect(self.host, self.port, timeout=self.timeout) as server:
            if self.starttls and not self.ssl:
                server.starttls()
            if self.username:
                server.login(self.username, password or "")
            server.send_message(message)
