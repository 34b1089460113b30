"""The hang failure mode (see tests.kinds.faulty)."""
from tests.kinds.faulty import define

define("HangKind", "hang")
