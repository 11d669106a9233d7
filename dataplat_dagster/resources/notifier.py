"""Notifications (output generated, failures, failed checks, file arrivals) as email.

`NotifierResource` builds the message; implementations only deliver it: `OutboxNotifier`
writes `.eml` files to a local folder, the AWS profile sends through SES or SMTP.
"""

import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import dagster as dg
from pydantic import Field


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
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(recipients)
        message["Subject"] = f"{self.subject_prefix} {notice.subject}".strip()
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or "dataplat")
        message["X-Dataplat-Kind"] = notice.kind
        message.set_content(notice.body)
        self._deliver(message)
        return message

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

    def messages(self) -> list[EmailMessage]:
        """The messages in the outbox, oldest first."""
        from email import message_from_bytes, policy

        return [
            message_from_bytes(path.read_bytes(), policy=policy.default)  # type: ignore[misc]
            for path in sorted(Path(self.folder).glob("*.eml"))
        ]
