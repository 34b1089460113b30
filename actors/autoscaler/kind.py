"""The autoscaler: a companion of the ModelDeployment kind, writing only `ctl.autoscaler`."""
from __future__ import annotations

from actors.autoscaler import model
from actors.autoscaler.events import EVENTS
from actors.kind import Companion
from actors.modeldeployment.kind import MODELDEPLOYMENT

AUTOSCALER = Companion(name=model.CONTROLLER_NAME, of=MODELDEPLOYMENT, state=model.Scaler, evolve=model.evolve,
                       decide=model.decide, wants=model.wants, events=EVENTS)
KINDS = (AUTOSCALER,)
"""This module imports ModelDeployment's kind too: only the autoscaler is declared here."""
