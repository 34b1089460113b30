"""The terminal failure mode (see tests.kinds.faulty)."""
from tests.kinds.faulty import define

KIND = define("TerminalKind", "terminal")
