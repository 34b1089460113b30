"""The partitioned view of the log: a copy of BOSUN whose subjects carry the resource's partition.

Why: a controller host that owns some partitions should read only their messages, so adding a host
divides the reading (issue #11). The contract's subjects (`bosun.ev.<kind>.<ns>.<name>...`) hold no
partition, and no filter over them selects a hash. So nats-server maps them, in a stream sourcing BOSUN,
with a subject transform: `bp.<partition>.ev.<kind>.<ns>.<name>...` (and `bp.<partition>.cmd.<driver>...`),
the partition being `{{partition(16, kind, namespace, name)}}`. Not a mirror: nats-server makes every
mirror of a stream with direct gets answer the origin's direct gets (`mirror_direct`), and under mapped
subjects it would answer "not found" for the stream's own. A sourced message carries its origin
sequence (`Nats-Stream-Source`), which `restamp` puts back, so fences, checkpoints and cell high-water
marks stay in BOSUN's sequence space. Each host then has one single-filter consumer per owned partition
(`bp.<n>.>`): measured in `bench partitions`, several filter subjects on one consumer are 27-76x slower.

`actors.partitions` computes nats-server's hash (FNV-1a, 32 bits, over the tokens concatenated), so a
host and the server agree on where every resource lives.
"""
from __future__ import annotations

from collections.abc import Mapping

from nats.js import api

from core.stored import StoredMessage

PARTITIONS = 16
"""The partition count of the mirror's transform: hosts with another count read the whole stream."""
PREFIX = "bp"
SOURCE = "Nats-Stream-Source"


def stream_name(stream: str) -> str:
    return f"{stream}_P"


def transforms(partitions: int = PARTITIONS) -> list[api.SubjectTransform]:
    """Events' kind/namespace/name are wildcards 1-3; commands' are 2-4 (after the driver)."""
    return [
        api.SubjectTransform(src="bosun.ev.*.*.*.>",
                             dest=f"{PREFIX}.{{{{partition({partitions},1,2,3)}}}}.ev."
                                  "{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}.>"),
        api.SubjectTransform(src="bosun.cmd.*.*.*.*",
                             dest=f"{PREFIX}.{{{{partition({partitions},2,3,4)}}}}.cmd."
                                  "{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}.{{wildcard(4)}}"),
        api.SubjectTransform(src="bosun.audit.>", dest=f"{PREFIX}.audit.>"),
    ]


def stream_config(stream: str, replicas: int) -> api.StreamConfig:
    """Sourced from the origin's first message on; every subject is mapped (audit records too, though no
    host reads them: the copy's last message then is the origin's, and a host catching up to the
    origin's end can tell when it got there)."""
    return api.StreamConfig(name=stream_name(stream), storage=api.StorageType.FILE, num_replicas=replicas,
                            sources=[api.StreamSource(name=stream, subject_transforms=transforms())])


def partition_filter(partition: int) -> str:
    return f"{PREFIX}.{partition}.>"


def kind_filters(kind: str) -> list[str]:
    """Every partition's events and commands of one kind (the publishers every host folds)."""
    return [f"{PREFIX}.*.ev.{kind}.>", f"{PREFIX}.*.cmd.*.{kind}.*.*"]


def original(subject: str) -> str:
    """`bp.<n>.ev.k.ns.name.spec` -> `bosun.ev.k.ns.name.spec`: the contract's subject, as stored in BOSUN."""
    if not subject.startswith("bp."):
        return subject
    return "bosun." + subject.split(".", 2)[2]


def origin_seq(headers: Mapping[str, str]) -> int:
    """The origin's sequence of a sourced message (`Nats-Stream-Source: <stream> <seq> ...`)."""
    return int(headers[SOURCE].split(" ", 2)[1])


def restamp(stored: StoredMessage) -> StoredMessage:
    """A message of the partitioned copy as BOSUN holds it: its sequence and subject there."""
    return StoredMessage(origin_seq(stored.headers), original(stored.subject), stored.headers, stored.data,
                         stored.time)
