"""The pure pieces behind issue #28's CLI and client: suggestions, readiness and its summary, the waiter,
SSE parsing, the prune plan, explain, durations, contexts."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actors.registry import load
from bosun.readiness import Target, Verdict, judge, summary
from bosun.watching import SSE, Waiter, WatchEvent
from cli import contexts, explain, prune
from cli.base import Settings
from cli.wait import seconds
from core import settings as core_settings
from gateway import suggestions
from gateway.schemas import kind_schema

MD = load().resolve("md")
assert MD is not None


def obj(phase: str, generation: int = 1, observed: int = 1, **status: Any) -> dict[str, Any]:
    return {"kind": "ModelDeployment", "metadata": {"name": "chat", "namespace": "team-a", "generation": generation},
            "status": {"phase": phase, "observedGeneration": observed, **status}}


def cond(type_: str, status: str, reason: str, message: str = "") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


# -- suggestions ---------------------------------------------------------------------------------------------


def test_the_closest_field_is_suggested_at_the_path_of_the_typo() -> None:
    assert suggestions.hint("placment", suggestions.fields_at(MD.spec_type, "$")) == \
        "unknown field (did you mean placement?)"
    assert suggestions.closest("regon", suggestions.fields_at(MD.spec_type, "$.placement")) == "region"
    assert suggestions.closest("pth", suggestions.fields_at(MD.spec_type, "$.readiness.httpGet")) == "path"
    assert suggestions.closest("Replicas", ["replicas", "model"]) == "replicas"  # a case slip first
    assert suggestions.hint("zzzz", ["min", "max"]) == "unknown field"
    assert suggestions.fields_at(MD.spec_type, "$.nothing.here") == []


# -- readiness -----------------------------------------------------------------------------------------------


T = Target("ModelDeployment", "chat", "team-a", generation=2)


@pytest.mark.parametrize(("found", "state", "reason"), [
    (None, "waiting", "NotFound"),
    (obj("Ready", generation=1, observed=1), "waiting", "Stale"),  # the read model is behind the apply
    (obj("Ready", generation=2, observed=1), "waiting", "NotObserved"),
    (obj("Progressing", 2, 2, conditions=[cond("Ready", "False", "ScalingUp", "3/5")]), "waiting", "ScalingUp"),
    (obj("Ready", 2, 2, conditions=[cond("Ready", "True", "Converged")]), "ready", "Converged"),
    (obj("Ready", 2, 2), "ready", ""),  # a kind with no controller: Ready once written, no conditions
    (obj("Failed", 2, 2, conditions=[cond("Ready", "False", "DecideFailed", "boom")]), "failed", "DecideFailed"),
    (obj("Pending", 2, 2, conditions=[cond("Progressing", "False", "ProgressDeadlineExceeded", "30s")]),
     "failed", "ProgressDeadlineExceeded"),
])
def test_judge(found: dict[str, Any] | None, state: str, reason: str) -> None:
    verdict = judge(T, found)
    assert (verdict.state, verdict.reason) == (state, reason)


def test_deleted_while_awaited_ready_fails_and_gone_is_done_for_delete() -> None:
    assert judge(T, None, deleted=True).state == "failed"
    assert judge(T._replace(want="delete"), None).state == "gone"
    assert judge(T._replace(want="delete"), obj("Deleting")).state == "waiting"


def test_summary_puts_failures_first_and_says_why() -> None:
    other = Target("GpuPool", "p", "infra")
    lines = summary([(other, Verdict("waiting", "Pending", "no nodes", "Pending")),
                     (T, Verdict("failed", "ProgressDeadlineExceeded", "no progress for 30s", "Pending", "0/5")),
                     (Target("GpuPool", "q", "infra"), Verdict("ready"))])
    assert lines == ["failed: modeldeployment/chat (team-a): Pending 0/5 ProgressDeadlineExceeded: no progress for 30s",
                     "not ready: gpupool/p (infra): Pending Pending: no nodes"]


# -- the waiter and SSE ----------------------------------------------------------------------------------------


def kind_key(kind: str) -> tuple[str, bool]:
    return {"md": ("modeldeployment", True), "ModelDeployment": ("modeldeployment", True),
            "Role": ("role", False)}[kind]


def test_waiter_tracks_each_target_and_a_bookmark_marks_the_absent() -> None:
    w = Waiter([Target("md", "chat", "team-a"), Target("Role", "viewer", "whatever", want="delete")], kind_key)
    assert w.refs == ["modeldeployment/team-a/chat", "role/whatever/viewer"]
    w.begin()
    assert w.feed(WatchEvent("ADDED", 5, obj("Progressing", conditions=[cond("Ready", "False", "ScalingUp")])))
    assert not w.feed(WatchEvent("ADDED", 5, {"kind": "ModelDeployment", "metadata": {"name": "other"}}))
    assert w.feed(WatchEvent("BOOKMARK", 5, {}))  # the role was not listed: it is gone
    assert [v.state for v in w.verdicts] == ["waiting", "gone"] and not w.finished
    w.feed(WatchEvent("MODIFIED", 7, obj("Ready")))
    assert w.finished and not w.failed


def test_a_failure_is_final() -> None:
    w = Waiter([Target("md", "chat", "team-a")], kind_key)
    w.feed(WatchEvent("MODIFIED", 3, obj("Failed")))
    assert not w.feed(WatchEvent("MODIFIED", 4, obj("Ready")))
    assert w.finished and w.failed


def test_sse_lines_become_events() -> None:
    sse = SSE()
    lines = [": watching", "event: ADDED", "id: 12", 'data: {"a":', 'data: 1}', "", "", "event: BOOKMARK",
             "id: 12", "data: {}", ""]
    events = [e for line in lines if (e := sse.feed(line)) is not None]
    assert events == [WatchEvent("ADDED", 12, {"a": 1}), WatchEvent("BOOKMARK", 12, {})]


# -- prune ---------------------------------------------------------------------------------------------------


def test_prune_plans_what_the_set_no_longer_names() -> None:
    live = [obj("Ready"), {"kind": "ModelDeployment", "metadata": {"name": "old", "namespace": "team-a"}},
            {"kind": "ModelDeployment",
             "metadata": {"name": "going", "namespace": "team-a", "deletionRequested": True}},
            {"kind": "Role", "metadata": {"name": "viewer"}}]
    wanted = {prune.wanted_key("modeldeployment", True, "team-a", "chat"),
              prune.wanted_key("role", False, "ignored", "viewer")}
    assert prune.prunable(live, wanted) == [("modeldeployment", "team-a", "old")]
    assert prune.shown(("role", prune.CLUSTER, "viewer")) == "role/viewer"


# -- explain -------------------------------------------------------------------------------------------------


ENTRY = {"name": "ModelDeployment", "namespaced": True, "schema": kind_schema(MD)}


def test_explain_walks_the_schema_through_optional_structs() -> None:
    text = explain.render(ENTRY, ["spec", "readiness", "httpGet", "path"])
    assert "FIELD:    spec.readiness.httpGet.path  string" in text and 'default "/healthz"' in text
    spec = explain.render(ENTRY, ["spec"])
    assert "  placement  <Placement> -required-" in spec
    assert "Process pools: the argv each replica runs" in spec  # a field docstring, through the schema
    status = explain.render(ENTRY, ["status", "conditions"])
    assert "reason  string" in status
    with pytest.raises(KeyError, match="did you mean replicas"):
        explain.render(ENTRY, ["spec", "replica"])


# -- durations and contexts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [("90", 90.0), ("30s", 30.0), ("5m", 300.0), ("1h30m", 5400.0),
                                             ("500ms", 0.5)])
def test_durations(text: str, value: float) -> None:
    assert seconds(text) == value


def test_a_bad_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        seconds("5 minutes")


def test_a_plane_beside_you_wins_over_the_current_context(tmp_path: Path) -> None:
    env = core_settings.Settings(config_home=str(tmp_path / "cfg"))  # XDG_CONFIG_HOME, as the group reads it
    token = tmp_path / "remote.token"
    token.write_text("remote-token\n")
    contexts.save(contexts.Config("remote", {"remote": contexts.Context("remote", "http://remote:1",
                                                                       token_file=str(token))}),
                  contexts.config_path(env.config_home))
    away = Settings(None, None, tmp_path / "no-plane", env)
    assert contexts.connection(away) == ("http://remote:1", "remote-token")
    here = tmp_path / "plane"
    here.mkdir()
    (here / "connection.json").write_text('{"http": "http://local:2"}')
    assert contexts.connection(Settings(None, None, here, env)) == ("http://local:2", None)
    assert contexts.connection(Settings(None, None, here, env, "remote"))[0] == "http://remote:1"  # asked by name
    assert contexts.connection(Settings("http://flag:3", "t", here, env, "remote")) == ("http://flag:3", "t")
    with pytest.raises(contexts.ConfigError, match="no context 'nope'"):
        contexts.connection(Settings(None, None, here, env, "nope"))
