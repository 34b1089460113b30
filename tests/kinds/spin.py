"""The spin failure mode (see tests.kinds.faulty)."""
from tests.kinds.faulty import define

define("SpinKind", "spin")
