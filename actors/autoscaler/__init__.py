"""The autoscaler: a companion controller of ModelDeployment that writes only `ctl.autoscaler`.

One actor per deployment folds its load observations and writes its recommendation as the deployment's
scale input (`core.scale.ScaleSet`); the deployment controller follows it without knowing who wrote it.
Declared by `actors.autoscaler.kind` (a `Companion`), which `actors.registry.SHIPPED` lists after the
ModelDeployment kind; its events join the kind's (`Registry.add_companion`), so ModelDeployment knows
nothing of it. This package imports nothing itself.
"""
