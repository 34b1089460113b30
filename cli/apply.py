"""`bosun apply` and `bosun diff`: a set of manifests, judged whole before anything is written.

apply: every file is read (all YAML errors reported, each once, with file and line), then the server
dry-runs the whole set (`POST /v1/diff?verb=apply`: validation, RBAC, If-Match); one bad document and
nothing is written, every error naming its file, document, field path and the closest valid field.
Then each document is applied, with its `metadata.resourceVersion` as If-Match unless `--force`;
`--prune -l SELECTOR` deletes what matches the selector but is no longer in the set; `--wait` follows
everything until Ready (`cli.wait`).
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from cli.base import Settings, error, fail, namespace_option, pass_settings, reports_errors
from cli.wait import timeout_option

if TYPE_CHECKING:
    from bosun.client import Client
    from cli.prune import Key
    from cli.sources import Doc

files_option = click.option("-f", "--filename", "sources", multiple=True, help="FILE, DIR or - (stdin).")
selector_option = click.option("-l", "--selector", help="Label selector (app=chat,tier!=web): with --prune.")
prune_option = click.option("--prune", is_flag=True,
                            help="Also delete resources matching -l that the set no longer has.")


@click.command()
@click.option("-f", "--filename", "sources", multiple=True, required=True, help="FILE, DIR or - (stdin).")
@namespace_option
@click.option("--wait", "wait_ready", is_flag=True, help="Then wait until everything is Ready (exit 1 if not).")
@timeout_option
@prune_option
@selector_option
@click.option("--if-match", "if_match", metavar="VERSION",
              help="Apply only if the resource is still at this resourceVersion (one document).")
@click.option("--force", is_flag=True, help="Ignore metadata.resourceVersion in the files (last writer wins).")
@pass_settings
@reports_errors
def apply(settings: Settings, sources: tuple[str, ...], namespace: str, wait_ready: bool, timeout: float,
          prune: bool, selector: str | None, if_match: str | None, force: bool) -> None:
    """Apply manifests: prints `kind/name created|configured|unchanged` (nothing if any is invalid)."""
    from bosun.errors import BosunError
    from bosun.readiness import Target

    _check_prune(prune, selector)
    docs = _load(sources, namespace)
    if if_match is not None:
        if len(docs) != 1:
            fail("Invalid", f"--if-match needs exactly one document, got {len(docs)}")
        docs = [_versioned(docs[0], if_match)]
    elif force:
        docs = [_versioned(d, None) for d in docs]
    with settings.client() as client:
        _dry_run(client, docs, namespace)
        doomed = _prunable(settings, client, docs, namespace, selector) if prune else []
        targets: list[Target] = []
        failed = False
        for doc in docs:
            try:
                done = client.apply(doc.body, namespace=namespace)
            except BosunError as e:
                failed = True
                _report(doc, e.code, e.message, [(d.field, d.message) for d in e.details])
                continue
            kind = _singular(settings, done.kind)
            click.echo(f"{kind}/{done.name} {done.result}")
            targets.append(Target(kind, done.name, done.namespace, done.generation))
        from cli.prune import shown

        for kind, ns, name in doomed:
            client.delete(kind, name, namespace=ns)
            click.echo(f"{shown((kind, ns, name))} pruned")
            targets.append(Target(kind, name, ns, 0, "delete"))
        if failed:
            sys.exit(1)
        if wait_ready:
            from cli.wait import run

            run(client, targets, timeout)


@click.command()
@files_option
@namespace_option
@click.option("--from", "start", type=int, help="With --to: what changed between two stream sequences.")
@click.option("--to", "end", type=int, help="Second stream sequence (default: now).")
@prune_option
@selector_option
@pass_settings
@reports_errors
def diff(settings: Settings, sources: tuple[str, ...], namespace: str, start: int | None, end: int | None,
         prune: bool, selector: str | None) -> None:
    """What apply would do. Exit 0: nothing would change; 1: something would; 2: invalid manifests.

    With --from SEQ1 [--to SEQ2]: the resources that changed between two points and their field diffs
    (-n limits it to one namespace only when given explicitly).
    """
    from cli import output as out
    from cli.prune import shown

    if start is not None or end is not None:
        from cli.replay import diff_points

        source = click.get_current_context().get_parameter_source("namespace")
        ns = namespace if source is not None and source.name != "DEFAULT" else None
        with settings.client() as client:
            diff_points(client, start or 0, end, ns)
        return
    if not sources:
        fail("Invalid", "diff needs -f FILE, or --from SEQ [--to SEQ]")
    _check_prune(prune, selector)
    docs = _load(sources, namespace, exit_code=2)
    with settings.client() as client:
        plan = client.call("POST", "/v1/diff", json=[d.body for d in docs])["items"]
        doomed = _prunable(settings, client, docs, namespace, selector) if prune else []
    for doc, item in zip(docs, plan, strict=True):
        click.echo(f"{item['kind'].lower()}/{item['name']} ({item['namespace']}): {item['action']}")
        for change in item.get("diff", []):
            click.echo(f"  {change['path']}: {out.scalar(change.get('from'))} -> {out.scalar(change.get('to'))}")
        if item.get("error"):
            err = item["error"]
            _report(doc, err["code"], err["message"], [(d["field"], d["message"]) for d in err.get("details", [])])
    for key in doomed:
        click.echo(f"{shown(key)}: delete")
    actions = {item["action"] for item in plan}
    sys.exit(2 if "invalid" in actions else 1 if actions & {"create", "update"} or doomed else 0)


def _check_prune(prune: bool, selector: str | None) -> None:
    if prune and not selector:
        fail("Invalid", "--prune needs -l SELECTOR: only resources with those labels are ever pruned")
    if selector and not prune:
        fail("Invalid", "-l SELECTOR goes with --prune")


def _load(sources: tuple[str, ...], namespace: str, exit_code: int = 1) -> list[Doc]:
    """Every document of the set, namespaced as apply sends it; every file problem printed, then exit."""
    from cli.sources import load

    docs, problems = load(sources)
    for problem in problems:
        error("Malformed", problem)
    if problems:
        sys.exit(exit_code)
    if not docs:
        fail("Invalid", "no manifests in " + ", ".join(sources))
    return [_with_namespace(d, namespace) for d in docs]


def _dry_run(client: Client, docs: list[Doc], namespace: str) -> None:
    """The server judges the whole set as apply would; any refusal: print them all, write nothing."""
    plan = client.call("POST", "/v1/diff", params={"verb": "apply"}, json=[d.body for d in docs])["items"]
    bad = [(doc, item["error"]) for doc, item in zip(docs, plan, strict=True) if item.get("error")]
    for doc, err in bad:
        _report(doc, err["code"], err["message"], [(d["field"], d["message"]) for d in err.get("details", [])])
    if bad:
        fail("NothingApplied", f"{len(bad)} of {len(docs)} documents refused; nothing was applied")


def _report(doc: Doc, code: str, message: str, details: list[tuple[str, str]]) -> None:
    """`error: team-a.yaml, document 2 (modeldeployment/chat): Invalid: $.spec.placment: unknown field …`."""
    body = doc.body if isinstance(doc.body, dict) else {}
    name = (body.get("metadata") or {}).get("name") if isinstance(body.get("metadata"), dict) else None
    what = f" ({str(body.get('kind', '?')).lower()}/{name})" if name else ""
    if len(details) == 1:
        error(code, f"{doc.where}{what}: {details[0][0]}: {details[0][1]}")
        return
    error(code, f"{doc.where}{what}: {message}", [d for d in details if d[1] != message])


def _prunable(settings: Settings, client: Client, docs: list[Doc], namespace: str, selector: str | None
              ) -> list[Key]:
    """Resources matching `selector`, of every kind served, that no document of the set names."""
    from bosun.calls import address
    from bosun.errors import Forbidden
    from cli.kinds import resolve, served
    from cli.prune import prunable, wanted_key

    wanted = set()
    for doc in docs:
        kind, ns, name = address(doc.body, namespace)
        info = resolve(settings, kind)
        wanted.add(wanted_key(info.key, not info.cluster_scoped, ns, name))
    live: list[dict[str, Any]] = []
    for entry in served(settings):
        try:
            live.extend(client.list(entry["plural"], selector=selector))
        except Forbidden as e:
            error(e.code, f"{entry['plural']} not pruned: {e.message}")
    return prunable(live, wanted)


def _singular(settings: Settings, kind: str) -> str:
    from cli.kinds import resolve

    return resolve(settings, kind).key


def _with_namespace(doc: Doc, namespace: str) -> Doc:
    """Manifests without a namespace go to `-n` (as apply sends them), so the plan matches."""
    from dataclasses import replace

    body = doc.body
    if isinstance(body, dict) and isinstance(body.get("metadata"), dict) and not body["metadata"].get("namespace"):
        return replace(doc, body={**body, "metadata": {**body["metadata"], "namespace": namespace}})
    return doc


def _versioned(doc: Doc, version: str | None) -> Doc:
    """`doc` with its If-Match (`metadata.resourceVersion`) set, or removed (None: `--force`)."""
    from dataclasses import replace

    body = doc.body
    if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
        return doc
    meta = {k: v for k, v in body["metadata"].items() if k != "resourceVersion"}
    if version is not None:
        meta["resourceVersion"] = version
    return replace(doc, body={**body, "metadata": meta})
