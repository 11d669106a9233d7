"""Email over SMTP: a local SMTP server (aiosmtpd) started by the test, the password in SSM.

The SSM parameter store is the moto server; the SMTP server requires a login.
"""

from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from dataplat_dagster.resources.aws import AwsResource
from dataplat_dagster.resources.notifier import Notice, SmtpNotifier
from tests.conftest import free_port

pytestmark = [
    pytest.mark.integration,
    # the test server accepts a login without TLS on purpose: it runs on 127.0.0.1 only
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        # handled=False: aiosmtpd then answers 535 itself (otherwise it waits for the handler to)
        return AuthResult(success=auth_data.password == b"mail-s3cret", handled=False)


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=inbox.authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    yield controller, inbox
    controller.stop()


def test_notices_go_out_over_smtp_with_the_password_from_ssm(
    smtp_server, aws_credentials: str
) -> None:
    controller, inbox = smtp_server
    aws = AwsResource(region_name="eu-west-1", endpoint_url=aws_credentials)
    aws.client("ssm").put_parameter(
        Name="/dataplat/smtp/password", Value="mail-s3cret", Type="SecureString"
    )
    notifier = SmtpNotifier(
        aws=aws,
        host=controller.hostname,
        port=controller.port,
        starttls=False,
        username="dataplat",
        password="ssm:/dataplat/smtp/password",
        sender="dataplat@example.com",
        recipients=["ops@example.com"],
    )
    notifier.send(
        Notice(
            "output",
            "output ready: retail.output.daily_revenue_csv for 2024-01-03",
            "Rows: 12",
            ("finance@example.com",),
        )
    )
    assert inbox.logins == [("dataplat", "mail-s3cret")]
    ((recipients, content),) = inbox.messages
    assert recipients == ["ops@example.com", "finance@example.com"]
    message = message_from_bytes(content, policy=policy.default)
    assert (
        message["Subject"]
        == "[dataplat] output ready: retail.output.daily_revenue_csv for 2024-01-03"
    )
    assert message.get_content().strip() == "Rows: 12"


def test_a_wrong_password_is_a_warning_naming_the_server(smtp_server, aws_credentials: str) -> None:
    from dataplat_dagster.failure_summary import SUMMARY_WARNINGS

    controller, inbox = smtp_server
    aws = AwsResource(region_name="eu-west-1", endpoint_url=aws_credentials)
    notifier = SmtpNotifier(
        aws=aws,
        host=controller.hostname,
        port=controller.port,
        starttls=False,
        username="dataplat",
        password="wrong",
        sender="dataplat@example.com",
        recipients=["ops@example.com"],
    )
    SUMMARY_WARNINGS.drain()
    notifier.send(Notice("failure", "FAILED", "body"))  # the run that sends it goes on
    (line,) = SUMMARY_WARNINGS.drain()
    server = f"the SMTP server {controller.hostname}:{controller.port} as dataplat"
    assert f"failure notice 'FAILED' was not sent through {server}" in line
    assert "SMTPAuthenticationError" in line and "535" in line
    assert inbox.messages == []
