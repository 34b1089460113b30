"""The autoscaler's registration: a companion of the ModelDeployment kind."""
from __future__ import annotations

from actors.autoscaler import model
from actors.autoscaler.events import EVENTS
from actors.controller import Controller, register_companion
from actors.modeldeployment.actor import INFO

CONTROLLER = register_companion(Controller(
    info=INFO, state_type=model.Scaler, initial=model.initial, evolve=model.evolve, decide=model.decide,
    status_of=model.status_of, finished=model.finished, companion=model.CONTROLLER_NAME, wants=model.wants,
    events=EVENTS,
))
