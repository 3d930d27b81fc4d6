"""Transport-level problems (body, content type, JSON), raised before a command exists.
Each dialect renders them in its own error format, like domain errors."""

from __future__ import annotations

from convroute.domain.errors import ConvrouteError


class HttpProblem(ConvrouteError):
    """A request that cannot be read: carries the HTTP status every dialect agrees on."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, list[str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.details = details or {}


def malformed_json(detail: str) -> HttpProblem:
    """The body is not JSON."""
    return HttpProblem(400, "malformed_json", f"the request body is not valid JSON: {detail}")


def too_large(limit: int) -> HttpProblem:
    """The body is over the limit."""
    return HttpProblem(413, "body_too_large", f"the request body is larger than {limit} bytes")


def unsupported_media_type(expected: str, got: str | None) -> HttpProblem:
    """The content type is not one the endpoint reads."""
    return HttpProblem(
        415, "unsupported_media_type", f"Content-Type must be {expected}, got {got or 'none'}"
    )
