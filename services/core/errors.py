"""One error tree for the whole product.

Every error has a stable ``code`` (used in problem+json ``type`` and CLI exit messages), an HTTP
``status``, a human ``detail`` and, where we know it, a ``hint``: the one thing the user should do
next. Adapters translate foreign exceptions into these at the boundary (``raise X(...) from exc``).
"""

from __future__ import annotations

from typing import Any, ClassVar


class MeritError(Exception):
    """Root of every error meritswarm raises on purpose."""

    code: ClassVar[str] = "internal"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    exit_code: ClassVar[int] = 1

    def __init__(self, detail: str, *, hint: str | None = None, **context: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.hint = hint
        self.context = context

    def one_line(self) -> str:
        """The message a CLI prints: what went wrong, then the fix."""
        return f"{self.detail}; {self.hint}" if self.hint else self.detail


class NotFound(MeritError):
    code = "not-found"
    status = 404
    title = "Not found"
    exit_code = 4


class Conflict(MeritError):
    code = "conflict"
    status = 409
    title = "Conflict"
    exit_code = 5


class Invalid(MeritError):
    code = "invalid"
    status = 422
    title = "Invalid input"
    exit_code = 2


class EndpointRefused(Invalid):
    """A node endpoint the marketplace must not connect to (not http(s), or an address inside:
    loopback, private, link-local, metadata ...)."""

    code = "endpoint-refused"
    title = "Node endpoint refused"


class TooLarge(MeritError):
    code = "too-large"
    status = 413
    title = "Request body too large"
    exit_code = 2


class RateLimited(MeritError):
    """Too many requests for one API key; ``retry_after_s`` says when one more is taken."""

    code = "rate-limited"
    status = 429
    title = "Too many requests"
    exit_code = 75

    def __init__(self, detail: str, *, retry_after_s: int, hint: str | None = None) -> None:
        super().__init__(detail, hint=hint)
        self.retry_after_s = retry_after_s


class Unauthorized(MeritError):
    code = "unauthorized"
    status = 401
    title = "Unauthorized"
    exit_code = 3


class ProofInvalid(MeritError):
    code = "proof-invalid"
    status = 422
    title = "Proof rejected"
    exit_code = 6


class ConfigInvalid(MeritError):
    code = "config-invalid"
    status = 500
    title = "Configuration rejected"
    exit_code = 78


class PortInUse(ConfigInvalid):
    code = "port-in-use"
    title = "Port already in use"


class Unavailable(MeritError):
    """A dependency is down; the same request may succeed later."""

    code = "unavailable"
    status = 503
    title = "Service unavailable"
    exit_code = 69
    retry_after_s: ClassVar[int] = 5


class ChainUnavailable(Unavailable):
    code = "chain-unavailable"
    title = "Chain unavailable"


class BrokerUnavailable(Unavailable):
    code = "broker-unavailable"
    title = "Task broker unavailable"


class StoreUnavailable(Unavailable):
    code = "store-unavailable"
    title = "Database unavailable"


class ContentUnavailable(Unavailable):
    code = "content-unavailable"
    title = "Content store unavailable"


class NodeUnreachable(Unavailable):
    """A model node did not answer in time or answered garbage: a no-show, not a crash."""

    code = "node-unreachable"
    title = "Node unreachable"


# --- refusals of the chain that use cases act on ----------------------------------------------
# The chain adapter raises these (as its named reverts); fakes may raise them directly.


class ChallengeWindowOpen(Conflict):
    """An epoch cannot be finalized yet: its challenge window is open until ``ends_at``."""

    code = "challenge-window-open"
    title = "Challenge window still open"

    @property
    def ends_at(self) -> int:
        """When the window closes, unix seconds (the chain's clock)."""
        return int(self.context["ends_at"])


class VerifierRefused(Conflict):
    """The chain's proof verifier refused a settlement proof, or none is deployed yet;
    ``reason`` names the contract's refusal."""

    code = "verifier-refused"
    title = "Proof verifier refused"

    @property
    def reason(self) -> str:
        return str(self.context["reason"])
