"""A principal's NATS permissions from RBAC, and the callout's signed answers (no server needed)."""
from __future__ import annotations

import base64
import json

import nacl.signing

from actors.governance.specs import PrincipalSpec, RoleBindingSpec, RoleSpec, Rule
from core import natscreds
from gateway.admission.auth import Principal
from gateway.admission.policy import PolicyIndex
from gateway.intents import claims
from gateway.intents.permissions import grant, permissions


def index() -> PolicyIndex:
    idx = PolicyIndex()
    idx.principals = {"alice": PrincipalSpec(token_sha256="a" * 64)}
    idx.roles = {
        "deployer": RoleSpec(rules=[Rule(verbs=["apply", "watch"], kinds=["ModelDeployment"], namespaces=["team-a"])]),
        "viewer": RoleSpec(rules=[Rule(verbs=["get", "watch"], kinds=["*"], namespaces=["*"])]),
        "getter": RoleSpec(rules=[Rule(verbs=["get", "list"], kinds=["*"], namespaces=["*"])]),
    }
    idx.bindings = {"a": RoleBindingSpec(principal="alice", role="deployer"),
                    "b": RoleBindingSpec(principal="bob", role="viewer", namespace="team-b"),
                    "c": RoleBindingSpec(principal="carol", role="getter")}
    return idx


def test_intents_only_where_it_may_write_events_only_where_it_may_watch_replies_only_its_own() -> None:
    p = permissions(Principal("alice"), index())
    assert "bosun.intent.ModelDeployment.team-a.*" in p.publish
    assert "bosun.intent.modeldeployments.team-a.*" in p.publish
    assert all(".team-a." in s for s in p.publish)
    assert p.subscribe == ("bosun.ev.modeldeployment.team-a.>", "_INBOX.alice.>")
    assert p.deny_subscribe == ("bosun.ev.principal.>",)


def test_a_namespaced_binding_narrows_a_wildcard_role_and_reading_is_not_writing() -> None:
    p = permissions(Principal("bob"), index())
    assert p.publish == ()
    assert p.subscribe == ("bosun.ev.*.team-b.>", "_INBOX.bob.>")
    assert permissions(Principal("carol"), index()).subscribe == ("_INBOX.carol.>",)  # get/list is not watch


def test_the_admin_may_send_every_intent_and_watch_everything_but_principals() -> None:
    p = permissions(Principal("admin", admin=True), index())
    assert p.publish == ("bosun.intent.>",) and "bosun.ev.>" in p.subscribe
    assert p.deny_subscribe == ("bosun.ev.principal.>",)


def test_the_tag_changes_with_the_rights_and_with_the_token() -> None:
    idx = index()
    before = grant(Principal("alice"), idx, "a" * 64)
    assert grant(Principal("alice"), idx, "a" * 64).tag == before.tag
    assert grant(Principal("alice"), idx, "b" * 64).tag != before.tag
    del idx.bindings["a"]
    assert grant(Principal("alice"), idx, "a" * 64).tag != before.tag
    assert before.name == f"alice#{before.tag}"


def _payload(jwt: str) -> dict[str, object]:
    part = jwt.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def _verify(jwt: str, issuer: str) -> None:
    raw = base64.b32decode(issuer + "=" * (-len(issuer) % 8))[1:33]
    head, body, sig = jwt.split(".")
    nacl.signing.VerifyKey(raw).verify(f"{head}.{body}".encode(), base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))


def test_the_answer_is_bound_to_the_server_and_user_and_signed_by_the_issuer() -> None:
    keys = natscreds.new_issuer()
    signer = claims.Signer(keys["seed"])
    assert signer.issuer == keys["issuer"]
    req = claims.Request(server_id=claims.ServerId(id="NSERVER"), user_nkey="UUSER",
                         connect_opts=claims.ConnectOpts(auth_token="t"))
    answer = signer.allow(req, "alice#x", claims.Permissions(("bosun.intent.>",), ("_INBOX.alice.>",))).decode()
    _verify(answer, keys["issuer"])
    outer = _payload(answer)
    assert (outer["sub"], outer["aud"], outer["iss"]) == ("UUSER", "NSERVER", keys["issuer"])
    inner = str(outer["nats"]["jwt"])  # type: ignore[index]
    _verify(inner, keys["issuer"])
    user = _payload(inner)
    assert (user["sub"], user["aud"], user["name"]) == ("UUSER", "$G", "alice#x")
    assert user["nats"]["pub"] == {"allow": ["bosun.intent.>"]}  # type: ignore[index]
    # nothing to publish: denied everything (an empty allow list would mean no restriction at all)
    none = signer.allow(req, "carol#y", claims.Permissions((), ("_INBOX.carol.>",))).decode()
    assert _payload(str(_payload(none)["nats"]["jwt"]))["nats"]["pub"] == {"deny": [">"]}  # type: ignore[index]
    refused = _payload(signer.refuse(req, "bad token").decode())
    assert refused["nats"] == {"error": "bad token", "type": "authorization_response", "version": 2}
