"""Which failures are worth retrying."""

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.exc import OperationalError

# Failures worth retrying: the storage, the network or a service failed for a moment.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    BotoCoreError,
    OperationalError,
)
_TRANSIENT_AWS_CODES = {
    "Throttling",
    "ThrottlingException",
    "SlowDown",
    "RequestTimeout",
    "ServiceUnavailable",
    "InternalError",
}


def is_transient(error: BaseException) -> bool:
    if isinstance(
        error, ClientError
    ):  # botocore retried it already; only a passing overload is worth more
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in _TRANSIENT_AWS_CODES or status >= 500
    return isinstance(error, TRANSIENT_ERRORS)
