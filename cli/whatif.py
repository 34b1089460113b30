"""`bosun plan`, `bosun policy test`, `bosun revert`: the what-if verbs (routes in `gateway/plans.py`)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from cli.base import Settings, fail, namespace_option, pass_settings, reports_errors

output_option = click.option("-o", "--output", type=click.Choice(["json", "yaml"]), help="Print the API object.")


def _print(value: Any, output: str | None) -> bool:
    from cli.output import to_json, to_yaml

    if output is None:
        return False
    click.echo(to_json(value) if output == "json" else to_yaml(value))
    return True


@click.command()
@click.option("-f", "--filename", "sources", multiple=True, required=True, help="FILE, DIR or - (stdin).")
@namespace_option
@click.option("--latency", type=float, help="Simulated replica start-up latency (s); the sim driver's default.")
@click.option("--seed", type=int, help="Seed of the simulated data plane.")
@output_option
@pass_settings
@reports_errors
def plan(settings: Settings, sources: tuple[str, ...], namespace: str, latency: float | None, seed: int | None,
         output: str | None) -> None:
    """Predict what applying manifests would do, on a fork of the live log (nothing is written)."""
    from gateway.manifests import load

    docs = [_with_namespace(doc, namespace) for source in sources for doc in load(source)]
    params = {k: v for k, v in {"latency": latency, "seed": seed}.items() if v is not None}
    with settings.client() as client:
        report = client.call("POST", "/v1/plan", json=docs, params=params, timeout=300)
    if not _print(report, output):
        click.echo(render_plan(report))
    failures = predicted_failures(report)
    for text in failures:
        click.echo(f"predicted failure: {text}", err=True)
    if failures or any(item["action"] in ("invalid", "refused") for item in report["items"]):
        sys.exit(1)


def predicted_failures(report: dict[str, Any]) -> list[str]:
    """Resources the plan does not see become Ready: Failed or Degraded, or (once the fork is quiescent,
    so nothing more would happen) left short of Ready, e.g. Unschedulable for lack of capacity."""
    out = []
    for item in report["items"]:
        p = item.get("predicted") or {}
        phase = p.get("phase") or ""
        stuck = report.get("quiescent") and phase not in ("", "Ready", "Deleting") and not p.get("ready")
        if phase in ("Failed", "Degraded") or stuck:
            out.append(f"{item['kind'].lower()}/{item['namespace']}/{item['name']}: {phase}"
                       f" {p.get('reason', '')}: {p.get('message', '')}".rstrip(": "))
    return out


@click.group()
def policy() -> None:
    """Policy what-ifs."""


@policy.command("test")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--since", help="Stream sequence or RFC 3339 time to replay from (default: the beginning).")
@output_option
@pass_settings
@reports_errors
def policy_test(settings: Settings, file: Path, since: str | None, output: str | None) -> None:
    """Replay every recorded request since SEQ|TIME against a proposed policy; list what would change."""
    params = {"since": since} if since else {}
    with settings.client() as client:
        report = client.call("POST", "/v1/policy/test", content=file.read_bytes(), params=params,
                             headers={"Content-Type": "application/yaml"}, timeout=300)
    if not _print(report, output):
        click.echo(render_policy_test(report))


@click.command()
@click.argument("seq", type=int)
@click.option("--dry-run", is_flag=True, help="Only print the plan of the revert.")
@click.option("-y", "--yes", is_flag=True, help="Apply without asking after showing the plan.")
@output_option
@pass_settings
@reports_errors
def revert(settings: Settings, seq: int, dry_run: bool, yes: bool, output: str | None) -> None:
    """Re-apply every resource changed since SEQ as it was then (new intents, never a rewrite)."""
    with settings.client() as client:
        preview = client.call("POST", "/v1/revert", json={"seq": seq, "dryRun": True}, timeout=300)
        if dry_run or not preview["changes"]:
            if not _print(preview, output):
                click.echo(render_revert(preview))
            return
        if output is None:
            click.echo(render_revert(preview))
        if not yes and not click.confirm(f"apply these {len(preview['changes'])} change(s)?", err=True):
            fail("Aborted", "nothing applied")
        done = client.call("POST", "/v1/revert", json={"seq": seq, "dryRun": False}, timeout=300)
    if not _print(done, output):
        for a in done["applied"]:
            outcome = a.get("result") or (a.get("error") or {}).get("code", "")
            click.echo(f"{a['kind'].lower()}/{a['namespace']}/{a['name']} {a['action']}: {outcome}")
    if any(a["status"] >= 300 for a in done["applied"]):
        sys.exit(1)


def _with_namespace(doc: Any, namespace: str) -> Any:
    if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict) and not doc["metadata"].get("namespace"):
        return {**doc, "metadata": {**doc["metadata"], "namespace": namespace}}
    return doc


def render_plan(report: dict[str, Any]) -> str:
    from cli.output import table

    lines = [table(["RESOURCE", "ACTION", "PREDICTED", "REASON"], [
        [f"{i['kind'].lower()}/{i['namespace']}/{i['name']}", i["action"],
         (i.get("predicted") or {}).get("phase", "-") or "-",
         (i.get("error") or {}).get("message") or (i.get("predicted") or {}).get("message", "")]
        for i in report["items"]])]
    for i in report["items"]:
        if i.get("timeline"):
            lines.append(f"\ntimeline of {i['kind'].lower()}/{i['namespace']}/{i['name']}:")
            lines += [f"  +{s['at']:.3f}s  {s['slice']:<16} {s['type']:<20} {s['summary']}" for s in i["timeline"]]
    if report["pools"]:
        priced = any(p.get("costPerHourAfter") is not None for p in report["pools"])
        cost = ["COST/H NOW", "COST/H AFTER"] if priced else []
        lines.append("\n" + table(["POOL", "CAPACITY", "FREE NOW", "FREE AFTER", *cost], [
            [p["pool"], str(p["capacity"]), str(p["freeBefore"]), str(p["freeAfter"]),
             *([str(p.get("costPerHourBefore")), str(p.get("costPerHourAfter"))] if priced else [])]
            for p in report["pools"]]))
    if report["quotas"]:
        lines.append("\n" + table(["NAMESPACE", "QUOTA", "USED NOW", "USED AFTER", "LIMIT"], [
            [q["namespace"], q["resource"], str(q["usedBefore"]), str(q["usedAfter"]), str(q["limit"])]
            for q in report["quotas"]]))
    for a in report["affected"]:
        lines.append(f"\naffected: {a['kind']}/{a['namespace']}/{a['name']} "
                     f"({a.get('phaseBefore') or '-'} -> {a.get('phaseAfter') or '-'}): " + "; ".join(a["changes"][:5]))
    state = "quiescent" if report["quiescent"] else "NOT quiescent (cut off)"
    lines.append(f"\n{state} after {report['virtualSeconds']:.2f} virtual seconds, {report['decisions']} decisions;"
                 f" based on the log up to seq {report['basis']['seq']}")
    return "\n".join(lines)


def render_policy_test(report: dict[str, Any]) -> str:
    from cli.output import table

    summary = (f"replayed {report['replayed']} request(s) in seq {report['since']}..{report['upto']}: "
               f"{report['same']} decided the same, {len(report['changed'])} differently, "
               f"{report['undetermined']} undetermined")
    lines = [summary]
    if report["changed"]:
        lines.append(table(["SEQ", "PRINCIPAL", "VERB", "RESOURCE", "RECORDED", "PROPOSED", "WHY"], [
            [str(c["seq"]), c["principal"], c["verb"], f"{c['kind']}/{c['namespace']}/{c['name']}",
             c["recorded"]["decision"], c["proposed"]["decision"],
             c["proposed"].get("reason") or c["recorded"].get("reason", "")] for c in report["changed"]]))
    for title, counts in (("PRINCIPAL", report["byPrincipal"]), ("NAMESPACE", report["byNamespace"])):
        if counts:
            lines.append(table([title, "ALLOWED->DENIED", "DENIED->ALLOWED"], [
                [k, str(v["allowedToDenied"]), str(v["deniedToAllowed"])] for k, v in sorted(counts.items())]))
    return "\n".join(lines)


def render_revert(preview: dict[str, Any]) -> str:
    lines = [f"revert to seq {preview['seq']} (log is at {preview['upto']}): {len(preview['changes'])} change(s)"]
    lines += [f"  {c['action']:<6} {c['kind'].lower()}/{c['namespace']}/{c['name']}" for c in preview["changes"]]
    if preview.get("plan"):
        lines.append(render_plan(preview["plan"]))
    return "\n".join(lines)
