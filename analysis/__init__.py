"""Analysis: what the log says happened and what would happen, with today's code.

- `replay`: rebuild the state each actor decided on and re-run today's `decide` on it (`bosun replay`,
  `--check`); `replaysource` reads a resource's story (and its neighbours') from the log.
- `whatif`: run intents on an in-memory fork of the log (`bosun plan`), with the actors' kernel and
  the sim's own rules.

Both run actors through the one kernel (`actors.kernel`), the way the live host does, so they cannot drift
from it. They read; they never append. The gateway and the CLI call them; they call neither.
"""
