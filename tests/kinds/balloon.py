"""The balloon failure mode (see tests.kinds.faulty)."""
from tests.kinds.faulty import define

define("BalloonKind", "balloon")
