"""Data-plane drivers: they actuate commands from the log and report what really exists back to it.

Drivers depend only on the log's protocol (`core.replicas`); each one owns the `obs` slice of the
resources it actuates and nothing else.
"""
