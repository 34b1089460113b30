"""The autoscaler: a companion controller of ModelDeployment that writes only `ctl.autoscaler`.

One actor per deployment folds its load observations and writes its recommendation as the deployment's
scale input (`core.scale.ScaleSet`); the deployment controller follows it without knowing who wrote it.
Registered by `actors.autoscaler.actor` (imported by `actors` after the ModelDeployment kind).
"""
