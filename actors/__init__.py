"""Per-resource actors: pure kind models plus the runtime that hosts them.

Importing this package registers nothing: `actors.registry.load()` builds the registry of kinds (the
shipped ones plus BOSUN_KINDS) once, and every component is given it.
"""
