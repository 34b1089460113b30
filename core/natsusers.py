"""Who is who on NATS: the static users of Bosun's own components and what each may touch (pure data).

Every component connects as its own user, allowed only its job (docs/security.md, "NATS identities"):
the gateway appends `spec` and `audit`; a controller host writes `ctl`/`inbox`/`cmd` and its buckets; a
driver reads its own commands and appends `obs`; the projector only reads and keeps its consumer (and
stores its snapshot when the archiver asks). Nobody may delete a message (the stream says `deny_delete`)
and only the archiver may purge: it takes archived messages out of the stream (docs/lifecycle.md); the
archive itself is write-once, for everyone. A backup only reads (stream snapshots). Clients are no static
user at all: they connect with their Bosun token and get their permissions from RBAC through the gateway's
auth callout (`gateway/intents/callout.py`).

The embedded server's config and compose.yaml are both written from this table; the tests try every
component's credentials at every other component's job.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from core import logtail, nodes

STREAM = "BOSUN"
PARTITIONED = "BOSUN_P"
BUCKETS = ("bosun-snapshots", "bosun-leases", "bosun-checkpoints", nodes.BUCKET)
ARCHIVE = "bosun-archive"
"""The archive's write-once Object Store (`OBJ_`) and its KV bucket (`KV_`): `core.archive`."""
PROJECTION_SNAPSHOTS = "bosun-projections"
SNAPSHOT_REQUEST = "bosun.sys.projections.snapshot"
DRIVERS = ("sim", "process")
PROJECTOR_DURABLE = "projector"
SYSTEM_ACCOUNT = "SYS"
CALLOUT_SUBJECT = "$SYS.REQ.USER.AUTH"
CALLOUT_REPLIES = "$SYS._INBOX.>"
"""Where nats-server waits for the callout's answers (its internal reply inboxes)."""
ADMIN_PRINCIPAL = "admin"
"""The admin token's principal (`gateway.admission.auth.ADMIN`): `connection.json`'s inbox names it."""
LOG_TAILS = logtail.PREFIX
"""The gateway asks `bosun.sys.logs.<driver>` for a replica's last lines (`core/logtail.py`)."""
CLIENT_INBOX = "_INBOX"
"""Clients' inbox prefix is `_INBOX.<principal>`: the only replies a client may read are its own."""


def inbox_of(user: str) -> str:
    """A component's private inbox prefix: `_INBOX_<user>`, which no other user may subscribe to."""
    return f"_INBOX_{user}"


def client_inbox(principal: str) -> str:
    return f"{CLIENT_INBOX}.{principal}"


@dataclass(frozen=True)
class Role:
    """One static user: the key in `nats-credentials.json`, its NATS user name and permissions."""

    key: str
    user: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    deny_publish: tuple[str, ...] = ()
    responses: bool = False
    """`allow_responses`: may answer requests it receives (the projector's rebuild), nothing else."""
    account: str = ""
    """Empty: the global account, where the log lives; `SYS`: the system account (revocation only)."""
    doc: str = field(default="", compare=False)


def _consumers(stream: str, durable: str | None = None) -> tuple[str, ...]:
    """Create, inspect, delete, pull from and ack `stream`'s consumers (`durable`: only that one)."""
    if durable is None:
        return (f"$JS.API.CONSUMER.*.{stream}.>", f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.>",
                f"$JS.API.CONSUMER.MSG.NEXT.{stream}.>", f"$JS.ACK.{stream}.>")
    return (f"$JS.API.CONSUMER.*.{stream}.{durable}", f"$JS.API.CONSUMER.*.{stream}.{durable}.>",
            f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{durable}", f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
            f"$JS.ACK.{stream}.{durable}.>")


_INFO = ("$JS.API.INFO", "$JS.API.STREAM.INFO.*")
_READ_ALL = ("$JS.API.DIRECT.GET.>", "$JS.API.STREAM.MSG.GET.*")
_ERASE = ("$JS.API.STREAM.DELETE.>", "$JS.API.STREAM.MSG.DELETE.>", "$JS.API.STREAM.RESTORE.>",
          "$JS.API.ACCOUNT.PURGE.>", "$JS.API.SERVER.REMOVE")
NEVER = ("$JS.API.STREAM.PURGE.>", *_ERASE)
"""No component may erase history: purge, delete a stream or a message, or restore one over it (the
archiver alone may purge: what it archived)."""
_ARCHIVE_READ = (*(f"$JS.API.DIRECT.GET.{s}"
                   for s in (f"KV_{ARCHIVE}", f"OBJ_{ARCHIVE}", f"OBJ_{PROJECTION_SNAPSHOTS}")),
                 f"$JS.API.STREAM.MSG.GET.KV_{ARCHIVE}")
"""Reading the archive (`core.archive`): its head, catalogue, segments, and the projection snapshot."""

GATEWAY = Role(
    "gateway", "gateway",
    publish=("bosun.ev.*.*.*.spec", "bosun.ev.*.*.*.inbox", "bosun.audit.>", "bosun.sys.projections.rebuild",
             "bosun.ev.*.*.*.obs", f"$KV.{nodes.BUCKET}.*",
             f"{LOG_TAILS}.>", "$JS.API.>", "$JS.FC.>", "$JS.ACK.>"),
    subscribe=(inbox_of("gateway") + ".>", "bosun.sys.projections.changed"),
    deny_publish=NEVER,
    doc="appends specs (and retry requests) and audit records, and nodes' reports, heartbeats and the "
        "observations of the replicas each node runs; manages "
        "the stream and buckets; reads; asks drivers for replicas' log tails")
DOOR = Role(
    "door", "gateway-door",
    publish=(CLIENT_INBOX + ".>", CALLOUT_REPLIES),
    subscribe=("bosun.intent.>", CALLOUT_SUBJECT, inbox_of("gateway-door") + ".>", nodes.DOOR),
    doc="the gateway's NATS door: answers intents (into client inboxes only), connect requests and nodes' "
        "reports and heartbeats")
SYSTEM = Role(
    "system", "system",
    publish=("$SYS.REQ.SERVER.PING.CONNZ", "$SYS.REQ.SERVER.*.KICK"),
    subscribe=(inbox_of("system") + ".>",),
    account=SYSTEM_ACCOUNT,
    doc="the gateway's revocation: lists clients' connections and closes those whose rights changed")
CONTROLLER = Role(
    "controller", "controller",
    publish=("bosun.ev.*.*.*.ctl.*", "bosun.ev.*.*.*.inbox", "bosun.cmd.>", "bosun.ev.*.*.*.obs",
             *(f"$KV.{b}.>" for b in BUCKETS), *_INFO, *_READ_ALL,
             f"$JS.API.STREAM.CREATE.{PARTITIONED}", f"$JS.API.STREAM.UPDATE.{PARTITIONED}",
             f"$JS.API.CONSUMER.LIST.{STREAM}", f"$JS.API.CONSUMER.LIST.{PARTITIONED}",
             *_consumers(STREAM), *_consumers(PARTITIONED), *(c for b in BUCKETS for c in _consumers(f"KV_{b}")),
             *(f"$JS.API.CONSUMER.CREATE.KV_{b}" for b in BUCKETS), "$JS.FC.>"),
    subscribe=(inbox_of("controller") + ".>",),
    deny_publish=NEVER,
    doc="writes ctl, inbox and cmd slices and its buckets (leases, snapshots, checkpoints), and the ReplicaLost "
        "(NodeLost) of a lost node's replicas on their obs slices; reads the log")
PROJECTOR = Role(
    "projector", "projector",
    publish=(*_INFO, f"$JS.API.DIRECT.GET.{STREAM}", f"$JS.API.DIRECT.GET.{STREAM}.>",
             f"$JS.API.STREAM.MSG.GET.{STREAM}", *_consumers(STREAM, PROJECTOR_DURABLE),
             "bosun.sys.projections.changed", *_ARCHIVE_READ, f"$O.{PROJECTION_SNAPSHOTS}.>"),
    subscribe=(inbox_of("projector") + ".>", "bosun.sys.projections.rebuild", SNAPSHOT_REQUEST),
    deny_publish=NEVER, responses=True,
    doc="reads the log through its own consumer and the archive; announces commits; answers the gateway's "
        "rebuild and the archiver's snapshot requests (its snapshot goes to bosun-projections)")
DRIVER = Role(
    "driver", "driver",
    publish=("bosun.ev.*.*.*.obs", *_INFO,
             *(f"$JS.API.CONSUMER.CREATE.{STREAM}.driver-{d}.bosun.cmd.{d}.>" for d in DRIVERS),
             *(f"$JS.API.CONSUMER.INFO.{STREAM}.driver-{d}" for d in DRIVERS),
             *(f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.driver-{d}" for d in DRIVERS),
             *(f"$JS.ACK.{STREAM}.driver-{d}.>" for d in DRIVERS)),
    subscribe=(inbox_of("driver") + ".>", f"{LOG_TAILS}.process"),
    deny_publish=NEVER, responses=True,
    doc="reads its own commands (bosun.cmd.<driver>.>) and appends observations (obs); the process driver "
        "answers log-tail requests (into the asker's inbox only: `allow_responses`)")

ARCHIVER = Role(
    "archiver", "archiver",
    publish=(*_INFO, *_READ_ALL, f"$JS.API.STREAM.PURGE.{STREAM}", f"$JS.API.STREAM.PURGE.{PARTITIONED}",
             f"$JS.API.STREAM.PURGE.OBJ_{PROJECTION_SNAPSHOTS}", f"$JS.API.CONSUMER.LIST.{STREAM}",
             *(f"$JS.API.STREAM.CREATE.{s}" for s in (f"KV_{ARCHIVE}", f"OBJ_{ARCHIVE}",
                                                     f"OBJ_{PROJECTION_SNAPSHOTS}")),
             f"$O.{ARCHIVE}.>", f"$KV.{ARCHIVE}.>", SNAPSHOT_REQUEST),
    subscribe=(inbox_of("archiver") + ".>",),
    deny_publish=_ERASE,
    doc="archives messages older than the retention (write-once bucket), then purges them from the stream "
        "and BOSUN_P, keeping every fenced subject's last message; asks for projection snapshots")
BACKUP = Role(
    "backup", "backup",
    publish=(*_INFO, "$JS.API.STREAM.SNAPSHOT.*", "$JS.SNAPSHOT.ACK.>", f"$KV.{ARCHIVE}.lease",
             f"$JS.API.DIRECT.GET.KV_{ARCHIVE}", f"$JS.API.STREAM.MSG.GET.KV_{ARCHIVE}", "$JS.API.STREAM.LIST",
             "$JS.API.STREAM.NAMES"),
    subscribe=(inbox_of("backup") + ".>",),
    deny_publish=NEVER,
    doc="`bosun backup`: snapshots of the stream, the archive and the buckets (reads only), holding the "
        "archive's lease meanwhile so nothing moves between them")
BENCH = Role(
    "bench", "bench",
    publish=("ceiling.>", *_INFO, "$JS.API.STREAM.CREATE.CEILING", "$JS.API.STREAM.DELETE.CEILING",
             *_consumers("CEILING"), f"$JS.API.CONSUMER.LIST.{STREAM}"),
    subscribe=(inbox_of("bench") + ".>",),
    doc="`bosun bench`'s engine ceiling: its own CEILING stream, and stream counts; no Bosun subject")

ROLES: tuple[Role, ...] = (GATEWAY, DOOR, SYSTEM, CONTROLLER, PROJECTOR, DRIVER, ARCHIVER, BACKUP, BENCH)
"""Every static user; the credentials file has one entry per role key."""
COMPONENT_ROLES = {"gateway": GATEWAY, "controller": CONTROLLER, "projector": PROJECTOR,
                   "driver-sim": DRIVER, "driver-process": DRIVER, "archiver": ARCHIVER}


def node_publish(name: str) -> tuple[str, ...]:
    """What node `name`'s agent may publish (it connects as its principal, through the auth callout): its
    own reports and heartbeats, which the gateway checks and writes (`gateway.intents.nodes`). It never
    writes the log itself: message ids, headers and the KV bucket stay Bosun's. Its commands it pulls from
    the one consumer the gateway made for it (`nodes.consumer`, filter `nodes.commands`) and acks there: no
    other consumer, no consumer API besides the next-message request (so it cannot widen the filter)."""
    durable = nodes.consumer(name)
    return (nodes.door_subjects(name), f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{durable}",
            f"$JS.ACK.{STREAM}.{durable}.>")


SIM_NODES = "sim-nodes"
"""The simulated nodes' component (`bosun driver sim-nodes`): its role key, NATS user and command consumer."""


def sim_nodes_role(names: tuple[str, ...]) -> Role:
    """The simulated nodes' component (`bosun up --sim-nodes N`): one process serving every simulated node, so
    one user whose node-specific rights are listed node by node (NATS subjects have no prefix wildcard): each
    simulated node's heartbeat key, nothing of any other node. Like the sim driver it appends observations
    (its replicas' and its nodes' `obs`); it reads its commands through the one consumer `sim-nodes` whose
    filters are the simulated nodes' command subjects (`bosun.cmd.node-<NAME>.>`), which it makes itself (the
    consumer API on that one durable: a multi-filter consumer cannot be pinned in the create subject)."""
    return Role(
        SIM_NODES, SIM_NODES,
        publish=("bosun.ev.*.*.*.obs", *_INFO, *_consumers(STREAM, SIM_NODES),
                 *(f"$KV.{nodes.BUCKET}.{n}" for n in names)),
        subscribe=(inbox_of(SIM_NODES) + ".>",),
        deny_publish=NEVER,
        doc="simulated nodes: their heartbeats (each one's key), their Node and replica observations, their "
            "commands through one consumer")


def role(key: str) -> Role:
    for r in ROLES:
        if r.key == key:
            return r
    raise KeyError(key)


def permissions_block(r: Role) -> str:
    """The `permissions {}` of one user in nats-server's config syntax."""
    pub = _list(r.publish)
    deny = f", deny: {_list(r.deny_publish)}" if r.deny_publish else ""
    responses = "\n      allow_responses: true" if r.responses else ""
    return (f"permissions: {{\n      publish: {{allow: {pub}{deny}}}\n"
            f"      subscribe: {{allow: {_list(r.subscribe)}}}{responses}\n    }}")


def _list(subjects: tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{s}"' for s in subjects) + "]"
