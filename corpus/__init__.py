"""The bad-input corpus: data shared by the tests, the chaos suite and the benchmarks.

A package of its own (not under `tests/`) so that `bosun chaos soak --bad-input` and `bosun bench badinput`
find it in an installed Bosun; it imports nothing of Bosun, and no product package imports it.
"""
