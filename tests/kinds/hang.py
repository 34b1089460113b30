"""The hang failure mode (see tests.kinds.faulty)."""
from tests.kinds.faulty import define

KIND = define("HangKind", "hang")
