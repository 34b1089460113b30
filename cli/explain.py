"""`bosun explain KIND[.field.path]`: what a field is, from the schema the server serves (`/v1/kinds`);
`bosun api-resources`: the kinds it serves.

The schema is generated from the kind's msgspec types (`gateway.schemas`), docstrings included, so
this is the same truth admission validates against. `render` is pure (a kind entry and a path in, text
out); the command only fetches the entry.
"""
from __future__ import annotations

import json
from typing import Any

import click

from cli.base import Settings, fail, pass_settings, reports_errors

Schema = dict[str, Any]
INDENT = "    "
_TOP = {
    "apiVersion": ("string", "Optional; accepted and ignored."),
    "kind": ("string", "The kind's name (or plural, or a short name)."),
    "metadata": ("<ObjectMetadata>", "name, namespace, labels; the server sets generation, resourceVersion, "
                                     "createdAt."),
    "spec": ("", "What you want: written by you, validated against this schema at admission."),
    "status": ("", "What is: written by the kind's controller (phase, conditions, observedGeneration)."),
}


def resolve(node: Schema, root: Schema) -> Schema:
    """Follow `$ref` (into `root`'s `$defs`) and unwrap `X | None` to X."""
    while True:
        if "$ref" in node:
            node = {**root.get("$defs", {}).get(node["$ref"].rsplit("/", 1)[-1], {}),
                    **{k: v for k, v in node.items() if k != "$ref"}}
            continue
        options = [o for o in node.get("anyOf", ()) if o.get("type") != "null"]
        if len(options) == 1:
            node = {**options[0], **{k: v for k, v in node.items() if k != "anyOf"}}
            continue
        return node


def type_name(node: Schema, root: Schema) -> str:
    if "$ref" in node:
        return f"<{node['$ref'].rsplit('/', 1)[-1]}>"
    if "anyOf" in node:
        return " | ".join(type_name(o, root) for o in node["anyOf"] if o.get("type") != "null")
    if "enum" in node:
        return "string (" + " | ".join(map(str, node["enum"])) + ")"
    kind = node.get("type", "any")
    if kind == "array":
        return "[]" + type_name(node.get("items", {}), root)
    if kind == "object" and isinstance(node.get("additionalProperties"), dict) and "properties" not in node:
        return "map[string]" + type_name(node["additionalProperties"], root)
    return str(kind)


def constraints(node: Schema) -> str:
    node = {**node, **next((o for o in node.get("anyOf", ()) if o.get("type") != "null"), {})}
    found = []
    for key, label in (("minimum", ">= {}"), ("exclusiveMinimum", "> {}"), ("maximum", "<= {}"),
                       ("minLength", "length >= {}"), ("maxLength", "length <= {}"), ("minItems", "items >= {}"),
                       ("maxItems", "items <= {}"), ("pattern", "matches {}")):
        if key in node:
            found.append(label.format(node[key]))
    if "default" in node:
        found.append(f"default {json.dumps(node['default'])}")
    return ", ".join(found)


def descend(node: Schema, root: Schema, field: str) -> Schema | None:
    """The schema of `field` inside `node` (through arrays and maps to the object they hold)."""
    node = resolve(node, root)
    while node.get("type") == "array" or ("additionalProperties" in node and "properties" not in node
                                          and isinstance(node.get("additionalProperties"), dict)):
        node = resolve(node.get("items") or node["additionalProperties"], root)
    found = node.get("properties", {}).get(field)
    return found if isinstance(found, dict) else None


def render(entry: dict[str, Any], path: list[str]) -> str:
    """The explanation of `entry`'s kind at `path` (`[]`: the kind; `["spec", "placement"]`: a field)."""
    lines = [f"KIND:     {entry['name']}", f"SCOPE:    {'namespaced' if entry['namespaced'] else 'cluster'}"]
    if not path:
        lines += ["", "FIELDS:"]
        for name, (kind, text) in _TOP.items():
            lines += [f"  {name}  {kind or '<object>'}", INDENT + text]
        return "\n".join(lines)
    schemas = entry.get("schema") or {}
    if path[0] not in schemas:
        raise KeyError(f"{entry['name']} has no field {path[0]!r} in its schema (spec, status)")
    root: Schema = schemas[path[0]]
    node: Schema = root
    for i, field in enumerate(path[1:], 1):
        found = descend(node, root, field)
        if found is None:
            from gateway.suggestions import closest

            here = resolve(node, root)
            best = closest(field, resolve(here.get("items", here), root).get("properties", {}))
            hint = f" (did you mean {best}?)" if best else ""
            raise KeyError(f"{'.'.join(path[:i])} has no field {field!r}{hint}")
        node = found
    shown = resolve(node, root)
    lines.append(f"FIELD:    {'.'.join(path)}  {type_name(node, root)}")
    text = node.get("description") or shown.get("description")
    extra = constraints(node)
    if text or extra:
        lines += ["", "DESCRIPTION:"] + [INDENT + x for x in (text, extra) if x]
    inner = resolve(shown.get("items", shown), root) if shown.get("type") == "array" else shown
    props = inner.get("properties", {})
    if props:
        required = set(inner.get("required", ()))
        lines += ["", "FIELDS:"]
        for name, sub in props.items():
            tag = " -required-" if name in required else ""
            lines.append(f"  {name}  {type_name(sub, root)}{tag}")
            for x in (sub.get("description"), constraints(sub)):
                if x:
                    lines.append(INDENT + x)
    return "\n".join(lines)


@click.command()
@click.argument("target", metavar="KIND[.FIELD.PATH]")
@pass_settings
@reports_errors
def explain(settings: Settings, target: str) -> None:
    """What a kind's fields are: types, limits, defaults, descriptions (from the server's schema)."""
    from bosun.client import find_kind
    from cli.kinds import served

    kind, *path = target.split(".")
    entry = find_kind(served(settings), kind)
    try:
        click.echo(render(entry, path))
    except KeyError as e:
        fail("NotFound", str(e.args[0]))


@click.command("api-resources")
@click.option("-o", "--output", type=click.Choice(["json", "yaml", "name"]))
@pass_settings
@reports_errors
def api_resources(settings: Settings, output: str | None) -> None:
    """The kinds the server serves: name, short names, scope."""
    from cli import output as out
    from cli.kinds import served

    entries = served(settings)
    if output in ("json", "yaml"):
        shaped = {"items": [{k: v for k, v in e.items() if k != "schema"} for e in entries]}
        click.echo(out.to_json(shaped) if output == "json" else out.to_yaml(shaped).rstrip())
        return
    if output == "name":
        click.echo("\n".join(e["plural"] for e in entries))
        return
    rows = [[e["plural"], ",".join(e["shortNames"]), str(e["namespaced"]).lower(), e["name"],
             e.get("controller") or "-"] for e in entries]
    click.echo(out.table(["NAME", "SHORTNAMES", "NAMESPACED", "KIND", "CONTROLLER"], rows))
