"""The exit failure mode (see tests.kinds.faulty)."""
from tests.kinds.faulty import define

define("ExitKind", "exit")
