"""The random draws that keep the evidence unbiased: which reviews are blind, which would-be settlements audited.

Each draw is a number in [0, 1) from HMAC-SHA256 of the claim id under a server secret, one purpose per
draw so that the two are independent. It is deterministic (a retaken or re-assessed claim gets the same
draw, so nobody can fish for an unaudited settlement by resubmitting), unpredictable without the secret
(a claim id alone does not tell a customer or an adjuster which claims are checked), and recorded by the
service beside the claim, with the rate it was compared to, so every estimate can be recomputed.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

from model.errors import ConfigError

Purpose = Literal["audit", "blind"]
MIN_SECRET_BYTES = 16


@dataclass(frozen=True)
class Draw:
    """One recorded draw: its purpose, the uniform value, the rate it was compared to."""

    purpose: Purpose
    value: float
    rate: float

    @property
    def drawn(self) -> bool:
        """True when the value falls under the rate: the review is blind, or the settlement audited."""
        return self.value < self.rate


def draw(purpose: Purpose, claim_id: str, secret: bytes, rate: float) -> Draw:
    """The ``purpose`` draw for ``claim_id``: uniform in [0, 1), the same every time for the same secret."""
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"the draw secret has {len(secret)} bytes; use a random secret of at least {MIN_SECRET_BYTES} "
            "bytes, kept on the server and never changed while evidence is collected"
        )
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"a draw rate must be between 0 and 1, got {rate}")
    digest = hmac.new(secret, f"{purpose}\x00{claim_id}".encode(), hashlib.sha256).digest()
    value = int.from_bytes(digest[:8], "big") / 2.0**64
    return Draw(purpose, value, rate)


def audit_draw(claim_id: str, secret: bytes, rate: float) -> Draw:
    """Whether a claim an autonomous step would settle still goes to an adjuster (``policy.audit_rate``)."""
    return draw("audit", claim_id, secret, rate)


def blind_draw(claim_id: str, secret: bytes, rate: float) -> Draw:
    """Whether the adjuster reviews the claim without the model's findings (``policy.blind_review_rate``)."""
    return draw("blind", claim_id, secret, rate)
