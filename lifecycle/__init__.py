"""The plane's life over years: the archiver (retention), log info, backup and restore (docs/lifecycle.md)."""
