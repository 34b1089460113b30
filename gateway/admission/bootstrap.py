"""`--policy FILE`: apply a policy YAML as Principal, Role, RoleBinding and Quota resources on start.

Through admission itself (as the admin), so bootstrap is validated, versioned and audited like any
apply; re-applying an unchanged file appends nothing (and records nothing).

    principals: [{name: alice, tokenSha256: "<hex>"}]
    roles:      [{name: deployer, rules: [{verbs: [...], kinds: [...], namespaces: [...]}]}]
    bindings:   [{principal: alice, role: deployer, namespace: team-a}]   # namespace optional
    quotas:     [{namespace: team-a, name: default, limits: {gpus: 8, replicas: 10, deployments: 5}}]
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import structlog
import yaml

from core.names import CLUSTER_NS
from gateway.admission.admit import Accepted, Admission, Intent

QUOTA_NAME = "default"
_log = structlog.get_logger("bosun.policy")


class PolicyError(Exception):
    """The policy file is malformed or one of its resources was refused (message says which)."""


def manifests(doc: Any) -> list[dict[str, Any]]:
    """Pure: the resources a policy document declares, in dependency order."""
    if doc is None:
        return []
    if not isinstance(doc, dict):
        raise PolicyError("a policy file is a mapping with principals, roles, bindings, quotas")
    unknown = set(doc) - {"principals", "roles", "bindings", "quotas"}
    if unknown:
        raise PolicyError(f"unknown policy sections: {', '.join(sorted(unknown))}")
    out: list[dict[str, Any]] = []
    for p in _items(doc, "principals"):
        out.append(_manifest("Principal", CLUSTER_NS, p.get("name"), {"tokenSha256": p.get("tokenSha256")}))
    for r in _items(doc, "roles"):
        out.append(_manifest("Role", CLUSTER_NS, r.get("name"), {"rules": r.get("rules")}))
    for b in _items(doc, "bindings"):
        spec = {k: b[k] for k in ("principal", "role", "namespace") if k in b}
        default = "-".join(str(b.get(k)) for k in ("principal", "role", "namespace") if b.get(k))
        out.append(_manifest("RoleBinding", CLUSTER_NS, b.get("name") or default, spec))
    for q in _items(doc, "quotas"):
        out.append(_manifest("Quota", q.get("namespace"), q.get("name") or QUOTA_NAME, {"limits": q.get("limits")}))
    return out


def _items(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = doc.get(key) or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise PolicyError(f"{key} must be a list of mappings")
    return items


def _manifest(kind: str, namespace: Any, name: Any, spec: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(name, str) or not isinstance(namespace, str):
        raise PolicyError(f"every {kind} in the policy needs a name (and a quota its namespace)")
    return {"kind": kind, "metadata": {"name": name, "namespace": namespace}, "spec": spec}


async def apply_policy(admission: Admission, path: Path, admin_token: str) -> list[tuple[str, Accepted]]:
    """Apply every resource of the file (idempotently): (kind, outcome) each; PolicyError on the first refusal."""
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise PolicyError(f"cannot read policy {path}: {e}") from e
    results = []
    for m in manifests(doc):
        meta = m["metadata"]
        outcome = await admission.handle(Intent(
            action="apply", kind=m["kind"], namespace=meta["namespace"], name=meta["name"],
            body=msgspec.json.encode(m), content_type="application/json",
            authorization=f"Bearer {admin_token}", source="bootstrap"))
        if not isinstance(outcome.body, Accepted):
            raise PolicyError(f"policy {m['kind']} {meta['name']}: {outcome.body.error.code}: "
                              f"{outcome.body.error.message}")
        results.append((m["kind"], outcome.body))
    changed = sum(1 for _, r in results if r.result != "unchanged")
    _log.info("policy applied", path=str(path), resources=len(results), changed=changed)
    return results
