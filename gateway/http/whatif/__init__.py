"""What-if: `bosun plan`, `bosun policy test` and `bosun revert` (issue "plan on a fork of the log").

Every decision in Bosun is a pure function of the log, so the real reconcilers can run on an in-memory
fork of the real history. Pure modules (`fork`, `dataplane`, `outcome`, `policytest`, `reverts`) hold
the logic; `load` and `service` do the reading; the gateway and CLI modules only move bodies.
"""
