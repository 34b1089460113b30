"""The log and its contract: names, subjects, typed events, kinds, JetStream I/O."""
