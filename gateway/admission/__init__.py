"""Admission: how user intent enters the log — authenticate, authorize, validate, charge quota, append.

One room for governance: `admit` (the one path of every write, from HTTP and NATS alike), `auth`,
`policy` and `governance` (who may do what), `validation` (schema), `quota`, `current` (a resource's
spec slice as admission reads it), `audit` (every decision recorded), `bootstrap` (`--policy FILE`).
"""
from gateway.admission.admit import Accepted, Action, Admission, Intent, Outcome

__all__ = ["Accepted", "Action", "Admission", "Intent", "Outcome"]
