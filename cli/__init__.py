"""`bosun`, the command line: resource commands, replay, audit, and the component processes."""
