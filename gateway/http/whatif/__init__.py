"""What-if, admission's side: `bosun plan`, `bosun policy test` and `bosun revert`.

What admission would say is judged here with admission's own rules: a plan's manifests (`service`: schema,
RBAC, the namespace quota in manifest order, `quotas`), a proposed policy against the audit log
(`policytest`, `policyservice`), the forward change that restores an earlier environment (`reverts`). What
the admitted manifests would then make happen runs on a fork of the log in `analysis.whatif`.
"""
