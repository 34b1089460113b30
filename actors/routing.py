"""Which actors see a message: the one rule shared by the live host and by replay."""
from __future__ import annotations

from collections.abc import Callable, Mapping

from core import headers as H
from core.names import Ref


def targets(owner: Ref, headers: Mapping[str, str], hosted: Callable[[str], bool]) -> list[Ref]:
    """The resource the subject belongs to, plus the actors named in `Bosun-From` (an inbox sender folds
    its own request) and `Bosun-Notify` (the requesters of answers, comma-separated); only kinds that
    have an actor (`hosted(kind)`)."""
    sender, notify = headers.get(H.SENDER), headers.get(H.NOTIFY)
    if not sender and not notify:  # most messages: their own resource only
        return [owner] if hosted(owner.kind) else []
    refs = [owner]
    named = f"{sender},{notify}" if sender and notify else sender or notify or ""
    for token in dict.fromkeys(named.split(",")):
        if token.count(".") == 2:
            other = Ref.parse(token)
            if other != owner:
                refs.append(other)
    return [r for r in refs if hosted(r.kind)]
