"""Human output of a scenario report: machine line, a table where the figures have columns, else an
indented key/value listing. `--json` prints the same document unchanged."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


def table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    """Right-aligned numbers, left-aligned text, columns separated by two spaces."""
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(c) for c in col) for col in zip(headers, *cells, strict=False)]
    numeric = [all(_is_number(row[i]) for row in rows) if rows else False for i in range(len(headers))]

    def line(row: list[str]) -> str:
        cols = zip(row, widths, numeric, strict=False)
        return "  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in cols).rstrip()

    return [line(headers), *(line(r) for r in cells)]


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) or value is None


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _latency(d: Any) -> str | None:
    if isinstance(d, dict) and "p50_ms" in d and "p99_ms" in d:
        extra = ", ".join(f"{k} {_fmt(v)}" for k, v in d.items() if k not in ("p50_ms", "p99_ms"))
        return f"p50 {_fmt(d['p50_ms'])} ms, p99 {_fmt(d['p99_ms'])} ms" + (f" ({extra})" if extra else "")
    return None


def listing(doc: dict[str, Any], indent: int = 2) -> list[str]:
    out: list[str] = []
    pad = " " * indent
    for key, value in doc.items():
        label = key.replace("_", " ")
        lat = _latency(value)
        if lat is not None:
            out.append(f"{pad}{label:{36 - indent}} {lat}")
        elif isinstance(value, dict):
            out.append(f"{pad}{label}:")
            out += listing(value, indent + 2)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            keys = [k for k in value[0] if not isinstance(value[0][k], (dict, list))]
            out.append(f"{pad}{label}:")
            out += [pad + "  " + row for row in table([k.replace("_", " ") for k in keys],
                                                      [[v.get(k) for k in keys] for v in value])]
        else:
            out.append(f"{pad}{label:{36 - indent}} {_fmt(value)}")
    return out


def machine_line(m: dict[str, Any]) -> str:
    return (f"machine: {m.get('cores')} cores, Python {m.get('python')}, {m.get('nats_server')}, "
            f"nats-py {m.get('nats_py')}, {m.get('platform')}")


def _burst(doc: dict[str, Any]) -> list[str]:
    runs = {k: v for k, v in doc.items() if isinstance(v, dict) and "via" in v}
    rows = []
    for name, r in runs.items():
        lat = r.get("declared_to_ready", {})
        ceiling = r.get("ceiling", {})
        rows.append([name, r["n"], r["declare_seconds"], r["all_ready_seconds"], r["resources_per_second"],
                     lat.get("p50_ms"), lat.get("p99_ms"), r.get("appended"), r.get("consumed"),
                     ceiling.get("seconds"), r.get("ceiling_ratio")])
    out = ["  " + line for line in table(
        ["channel", "n", "declare s", "all Ready s", "resources/s", "p50 ms", "p99 ms", "appended", "consumed",
         "ceiling s", "ceiling/pipeline"], rows)]
    phase_keys = list(next(iter(runs.values())).get("phases", {})) if runs else []
    if phase_keys:
        out += ["", "  phases (seconds):"]
        out += ["  " + line for line in table(["channel", *(k.removesuffix("_seconds").replace("_", " ")
                                                            for k in phase_keys)],
                                              [[n, *(r["phases"].get(k) for k in phase_keys)]
                                               for n, r in runs.items()])]
        out += ["", "  ceiling (raw nats-py JetStream, same server, same run):"]
        out += ["  " + line for line in table(["channel", "published", "publish s", "consumed", "consume s"],
                                              [[n, r["ceiling"]["published"], r["ceiling"]["publish_seconds"],
                                                r["ceiling"]["consumed"], r["ceiling"]["consume_seconds"]]
                                               for n, r in runs.items() if "ceiling" in r])]
    return out


def _memory(doc: dict[str, Any]) -> list[str]:
    keys = ["resources", "events_per_resource", "active_actors", "rss_bytes_per_active_actor",
            "rss_bytes_per_passivated_resource", "passive_actors_loaded", "traced_bytes_per_active_actor",
            "traced_bytes_per_passivated_resource", "traced_bytes_per_passivated_in_place",
            "meets_passivated_target"]
    heads = ["resources", "events/res", "active", "RSS B/active", "RSS B/passivated", "loaded (passive)",
             "traced B/active", "traced B/passivated", "traced B/passivated in place", "<= target"]
    rows = [[row.get(k) for k in keys] for row in doc["counts"]]
    notes = [f"  note: at {row['resources']:,} resources, {', '.join(row['runs_that_lost_leases'])} lost partition "
             "leases (a figure that depends on them is '-')"
             for row in doc["counts"] if row.get("runs_that_lost_leases")]
    return [f"  target: <= {doc['target_bytes_per_passivated_resource']:,} bytes per passivated resource (RSS)",
            *("  " + line for line in table(heads, rows)), *notes]


def _peer(doc: dict[str, Any]) -> list[str]:
    rows = [[side, d["aggregates"], d["events"], d["seed_seconds"], d["rebuild_seconds"], d["events_per_second"]]
            for side, d in (("bosun (cold host, no snapshots)", doc["bosun"]),
                            (f"{doc['peer']['library']} / sqlite", doc["peer"]))]
    heads = ["system", "aggregates", "events", "seed s", "rebuild s", "events/s"]
    return [*("  " + line for line in table(heads, rows)),
            f"  ratio bosun/peer (rebuild time): {_fmt(doc['ratio_bosun_over_peer'])}"]


TABLES: dict[str, Callable[[dict[str, Any]], list[str]]] = {"burst": _burst, "memory": _memory, "peer": _peer}


def render(name: str, doc: dict[str, Any]) -> str:
    lines = [f"== {name}", machine_line(doc.get("machine", {}))]
    body = {k: v for k, v in doc.items() if k not in ("scenario", "machine")}
    if name in TABLES:
        lines += TABLES[name](body)
    else:
        lines += listing(body)
    return "\n".join(lines)
