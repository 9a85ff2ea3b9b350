"""Typed errors of the operator. What to do next is decided by the type, in one place
(`reconcile`), never by parsing messages:

    OperatorError
    ├── InvalidSpecError        the SupportBot cannot be parsed: Degraded, no retry until edited
    ├── InputError              a referenced Secret/ConfigMap/key is missing or the flow is
    │                           invalid: Degraded with `reason`, hold the running version
    └── KubeApiError            the API server refused or failed a request
        ├── .retryable           5xx, 429, timeouts, conflicts: requeue with backoff
        ├── .permanent           400/413/422, the request itself is invalid (e.g. requests above
        │                        limits): Degraded (ApplyRejected) with the API's message, the
        │                        same request is not sent again soon, no backoff loop
        └── otherwise            401/403/404...: Degraded (ApplyFailed), requeue with backoff
"""

from __future__ import annotations


class OperatorError(Exception):
    """Base class of every error the operator raises on purpose."""


class InvalidSpecError(OperatorError):
    """The resource does not match the spec model (the CRD schema should have prevented it)."""


class InputError(OperatorError):
    """A referenced input is unusable; `reason` becomes the Degraded condition's reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class KubeApiError(OperatorError):
    """An API request failed; `status` is the HTTP status (0 when no response arrived)."""

    def __init__(self, status: int, message: str, *, reason: str = "") -> None:
        super().__init__(f"{status} {reason}: {message}" if reason else f"{status}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def retryable(self) -> bool:
        return self.status in {0, 408, 409, 429} or self.status >= 500

    @property
    def permanent(self) -> bool:
        """The API server refused the request itself: sending it again cannot succeed."""
        return self.status in {400, 413, 422}

    @property
    def not_found(self) -> bool:
        return self.status == 404
