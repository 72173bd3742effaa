"""Saved views, versioned dashboards and reports with share links, through the real app on SQLite and PostgreSQL:
CRUD, versions and restore, 404 / 409 / 422 answers, and a share link that reads its report's runs and nothing
else, without a key, until it is revoked."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient

from neon_server.api import track_dashboard_schemas as io
from neon_server.api import track_schemas
from neon_server.domain.track import FileRef, RunCreate, RunWrites
from neon_server.runtime import Services
from neon_server.services.track_dashboards import token_hash
from server.tests.test_agents_api import check


@pytest.fixture
def headers(project_key: tuple[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {project_key[1]}"}


def line(block_id: str, metric: str, x: int = 0, w: int = 6) -> dict[str, Any]:
    return {"id": block_id, "type": "line", "title": metric, "layout": {"x": x, "y": 0, "w": w, "h": 4},
            "options": {"metrics": [metric], "formulas": [], "x": {"kind": "step"}, "logX": False, "logY": False,
                        "smoothing": {"kind": "none"}}}


def spec(*blocks: dict[str, Any], dynamic: str | None = None) -> dict[str, Any]:
    sections: list[dict[str, Any]] = [{"id": "s1", "title": "Losses", "collapsed": False, "dynamic": None,
                                       "blocks": list(blocks)}]
    if dynamic is not None:
        sections.append({"id": "s2", "title": "Every val metric", "collapsed": True, "blocks": [],
                         "dynamic": {"regex": dynamic, "template": {"formulas": [], "x": {"kind": "step"},
                                                                    "logX": False, "logY": False,
                                                                    "smoothing": {"kind": "ema", "weight": 0.6}}}})
    return {"sections": sections}


STATE = {"query": "`config/lr`:float > 0.001", "columns": [{"path": "sys/name"}, {"path": "loss", "aggregate": "min"}],
         "sort": [{"path": "loss", "aggregate": "min", "direction": "asc"}], "group_by": ["config/optimizer"]}


def test_saved_views_crud_and_unique_names(client: TestClient, headers: dict[str, str]) -> None:
    made = check(io.ViewOut, client.post("/api/track/views", headers=headers, json={"name": "best", "state": STATE}),
                 201)
    assert made["name"] == "best"
    assert made["state"]["query"] == STATE["query"]
    assert made["state"]["sort"][0]["direction"] == "asc"
    assert made["state"]["group_by"] == ["config/optimizer"]
    duplicate = client.post("/api/track/views", headers=headers, json={"name": "best", "state": {}})
    assert duplicate.status_code == 409
    assert "already exists" in duplicate.json()["error"]["message"]
    other = check(io.ViewOut, client.post("/api/track/views", headers=headers,
                                          json={"name": "all", "state": {"query": None}}), 201)
    listed = check(io.ViewList, client.get("/api/track/views", headers=headers))["views"]
    assert [v["name"] for v in listed] == ["all", "best"]

    renamed = client.patch(f"/api/track/views/{other['id']}", headers=headers, json={"name": "best"})
    assert renamed.status_code == 409
    changed = check(io.ViewOut, client.patch(f"/api/track/views/{other['id']}", headers=headers,
                                             json={"name": "everything", "state": {"group_by": ["sys/owner"]}}))
    assert (changed["name"], changed["state"]["group_by"]) == ("everything", ["sys/owner"])
    assert check(io.ViewOut, client.get(f"/api/track/views/{other['id']}", headers=headers)) == changed

    assert client.delete(f"/api/track/views/{made['id']}", headers=headers).status_code == 204
    assert client.get(f"/api/track/views/{made['id']}", headers=headers).status_code == 404
    assert client.delete(f"/api/track/views/{made['id']}", headers=headers).status_code == 404
    assert client.patch("/api/track/views/view_nope", headers=headers, json={"name": "x"}).status_code == 404
    bad = client.post("/api/track/views", headers=headers,
                      json={"name": "bad", "state": {"sort": [{"path": "loss", "direction": "up"}]}})
    assert bad.status_code == 422
    assert "state.sort[0].direction" in bad.json()["error"]["message"]


def test_a_view_is_seen_only_in_its_project(client: TestClient, services: Services, headers: dict[str, str]) -> None:
    made = client.post("/api/track/views", headers=headers, json={"name": "mine", "state": {}}).json()
    other = services.projects.create("another")
    _key, secret = services.keys.create(other.id)
    theirs = {"Authorization": f"Bearer {secret}"}
    assert client.get(f"/api/track/views/{made['id']}", headers=theirs).status_code == 404
    assert client.get("/api/track/views", headers=theirs).json() == {"views": []}
    # the same name is free in another project
    assert client.post("/api/track/views", headers=theirs, json={"name": "mine", "state": {}}).status_code == 201


def test_dashboards_save_versions_and_restore(client: TestClient, services: Services, project_key: tuple[str, str],
                                              headers: dict[str, str]) -> None:
    project_id, _ = project_key
    key = services.keys.create(project_id, name="ci-bot")[1]
    first = check(io.DashboardOut, client.post("/api/track/dashboards", headers=headers,
                                               json={"name": "Training", "spec": spec(line("a", "loss"))}), 201)
    assert (first["version"], first["latest_version"]) == (1, 1)
    assert first["spec"]["sections"][0]["blocks"][0]["options"]["metrics"] == ["loss"]
    dashboard = first["id"]
    assert client.post("/api/track/dashboards", headers=headers, json={"name": "Training"}).status_code == 409

    saver = {"Authorization": f"Bearer {key}"}
    second = check(io.DashboardOut, client.put(
        f"/api/track/dashboards/{dashboard}", headers=saver,
        json={"spec": spec(line("a", "loss", w=12), line("b", "acc", x=0), dynamic="^val/")}))
    assert (second["version"], second["latest_version"]) == (2, 2)
    assert second["author"] == "ci-bot"
    assert second["spec"]["sections"][1]["dynamic"]["regex"] == "^val/"

    latest = check(io.DashboardOut, client.get(f"/api/track/dashboards/{dashboard}", headers=headers))
    assert latest["spec"] == second["spec"]
    old = check(io.DashboardOut, client.get(f"/api/track/dashboards/{dashboard}?version=1", headers=headers))
    assert (old["version"], old["latest_version"], old["spec"]) == (1, 2, first["spec"])
    versions = check(io.DashboardVersionList, client.get(f"/api/track/dashboards/{dashboard}/versions",
                                                         headers=headers))["versions"]
    assert [v["version"] for v in versions] == [2, 1]

    restored = check(io.DashboardOut, client.post(f"/api/track/dashboards/{dashboard}/versions/1/restore",
                                                  headers=headers))
    assert (restored["version"], restored["spec"]) == (3, first["spec"])
    listed = check(io.DashboardList, client.get("/api/track/dashboards", headers=headers))["dashboards"]
    assert [(d["name"], d["version"]) for d in listed] == [("Training", 3)]

    renamed = check(io.DashboardOut, client.put(f"/api/track/dashboards/{dashboard}", headers=headers,
                                                json={"spec": first["spec"], "name": "Runs"}))
    assert (renamed["name"], renamed["version"]) == ("Runs", 4)

    assert client.get(f"/api/track/dashboards/{dashboard}?version=9", headers=headers).status_code == 404
    assert client.post(f"/api/track/dashboards/{dashboard}/versions/9/restore", headers=headers).status_code == 404
    assert client.get("/api/track/dashboards/dash_nope", headers=headers).status_code == 404
    assert client.put("/api/track/dashboards/dash_nope", headers=headers,
                      json={"spec": {"sections": []}}).status_code == 404
    assert client.delete(f"/api/track/dashboards/{dashboard}", headers=headers).status_code == 204
    assert client.get(f"/api/track/dashboards/{dashboard}/versions", headers=headers).status_code == 404


def _with(base: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(base)
    target = changed
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return changed


GOOD = spec(line("a", "loss"))


@pytest.mark.parametrize(("path", "value", "named"), [
    (["sections", 0, "blocks", 0, "type"], "pie", "sections[0].blocks[0].type"),
    (["sections", 0, "blocks", 0, "layout", "x"], 8, "sections[0].blocks[0].layout"),
    (["sections", 0, "blocks", 0, "layout", "w"], 0, "sections[0].blocks[0].layout.w"),
    (["sections", 0, "blocks", 0, "layout", "h"], 2.5, "sections[0].blocks[0].layout.h"),
    (["sections", 0, "blocks", 0, "options"], {"text": "x" * 70_000}, "sections[0].blocks[0].options"),
    (["sections", 0, "blocks", 0, "options"], "loss", "sections[0].blocks[0].options"),
    (["sections", 0, "dynamic"], {"regex": "val/(", "template": {}}, "sections[0].dynamic.regex"),
    (["sections", 0, "collapsed"], "yes", "sections[0].collapsed"),
    (["sections", 0, "colour"], "red", "sections[0].colour"),
    (["sections"], [{"id": f"s{i}", "blocks": []} for i in range(51)], "sections"),
    (["sections"], [{"id": f"s{i}", "blocks": [line(f"b{i}-{j}", "loss") for j in range(101)]} for i in range(2)],
     "200 blocks"),
    (["sections", 0, "blocks"], [line("a", "loss"), line("a", "acc")], "appears twice"),
])
def test_a_bad_spec_is_refused_naming_the_field_and_nothing_is_stored(
        client: TestClient, headers: dict[str, str], path: list[Any], value: Any, named: str) -> None:
    bad = _with(GOOD, path, value)
    answer = client.post("/api/track/dashboards", headers=headers, json={"name": "bad", "spec": bad})
    assert answer.status_code == 422, answer.text
    assert named in answer.json()["error"]["message"]
    assert client.get("/api/track/dashboards", headers=headers).json() == {"dashboards": []}

    made = client.post("/api/track/dashboards", headers=headers, json={"name": "good", "spec": GOOD}).json()
    again = client.put(f"/api/track/dashboards/{made['id']}", headers=headers, json={"spec": bad})
    assert again.status_code == 422
    assert [v["version"] for v in client.get(f"/api/track/dashboards/{made['id']}/versions",
                                             headers=headers).json()["versions"]] == [1]
    report = client.post("/api/track/reports", headers=headers, json={"name": "r", "spec": bad, "runs": []})
    assert report.status_code == 422
    assert client.get("/api/track/reports", headers=headers).json() == {"reports": []}


@pytest.fixture
def runs(services: Services, project_key: tuple[str, str]) -> list[str]:
    """Three runs with a loss series; the report will hold the first two."""
    project_id, _ = project_key
    ids = ["in-a", "in-b", "outside"]
    for n, run_id in enumerate(ids):
        asyncio.run(services.track.create_run(project_id, RunCreate(run_id)))
        writes = RunWrites(run_id)
        for step in range(50):
            writes.add_float("loss", step, 0, (n + 1) / (1 + step))
        writes.set_attribute("config/seed", n, 0)
        asyncio.run(services.track.write(project_id, writes))
    return ids


def test_a_share_link_reads_its_report_and_only_its_runs(client: TestClient, services: Services,
                                                         headers: dict[str, str], runs: list[str]) -> None:
    made = check(io.ReportOut, client.post("/api/track/reports", headers=headers, json={
        "name": "Sweep", "spec": spec(line("a", "loss"), {**line("m", "loss"), "type": "markdown",
                                                          "options": {"text": "# Findings"}}),
        "runs": runs[:1], "groups": [{"name": "pair", "runs": runs[:2]}]}), 201)
    assert (made["shared"], made["shared_at"]) == (False, None)
    report = made["id"]
    edited = check(io.ReportOut, client.patch(f"/api/track/reports/{report}", headers=headers,
                                              json={"runs": runs[:2], "name": "Sweep 1"}))
    assert (edited["runs"], edited["name"], edited["spec"]) == (runs[:2], "Sweep 1", made["spec"])

    link = check(io.ShareLink, client.post(f"/api/track/reports/{report}/share", headers=headers), 201)
    token = link["token"]
    assert link["path"] == f"/share/reports/{token}"
    with services.metadata.engine.connect() as conn:  # only the token's hash is kept
        from sqlalchemy import text

        stored = conn.execute(text("SELECT share_token_hash FROM track_reports")).scalars().all()
    assert stored == [token_hash(token)]
    assert check(io.ReportOut, client.get(f"/api/track/reports/{report}", headers=headers))["shared"] is True

    anyone = TestClient(client.app)  # no key
    shared = check(io.SharedReport, anyone.get(f"/api/shared/reports/{token}"))
    assert (shared["name"], shared["runs"], shared["spec"]) == ("Sweep 1", runs[:2], made["spec"])

    body = {"series": [{"run_id": r, "path": "loss"} for r in runs[:2]], "buckets": 10}
    buckets = anyone.post(f"/api/shared/reports/{token}/buckets", json=body)
    assert buckets.status_code == 200, buckets.text
    keyed = client.post("/api/track/buckets", headers=headers, json=body)
    assert buckets.json() == keyed.json()
    outside = anyone.post(f"/api/shared/reports/{token}/buckets",
                          json={"series": [{"run_id": "outside", "path": "loss"}]})
    assert outside.status_code == 404

    detail = check(track_schemas.TrackRunDetail, anyone.get(f"/api/shared/reports/{token}/runs/in-a"))
    assert detail["series"]["loss"]["count"] == 50
    assert anyone.get(f"/api/shared/reports/{token}/runs/outside").status_code == 404

    formula = anyone.post(f"/api/shared/reports/{token}/formula",
                          json={"formula": "mean(${loss})", "groups": [{"name": "pair", "runs": runs[:2]}]})
    assert formula.status_code == 200, formula.text
    assert formula.json()["groups"][0]["name"] == "pair"
    assert anyone.post(f"/api/shared/reports/{token}/formula",
                       json={"formula": "${loss} * 2", "runs": ["outside"]}).status_code == 404

    table = anyone.post(f"/api/shared/reports/{token}/table", json={"columns": [{"path": "config/seed"}]})
    assert table.status_code == 200, table.text
    assert sorted(r["run_id"] for r in table.json()["rows"]) == runs[:2]
    assert table.json()["total"] == 2
    # a query cannot widen the report's runs
    wider = anyone.post(f"/api/shared/reports/{token}/table", json={"query": '`sys/custom_run_id`:string == "outside"'})
    assert wider.json()["total"] == 0

    # the keyed routes stay keyed
    assert anyone.get(f"/api/track/reports/{report}").status_code == 401
    assert anyone.post("/api/track/buckets", json=body).status_code == 401

    # a new link replaces the old one; a revoked link is a 404
    newer = client.post(f"/api/track/reports/{report}/share", headers=headers).json()["token"]
    assert anyone.get(f"/api/shared/reports/{token}").status_code == 404
    assert anyone.get(f"/api/shared/reports/{newer}").status_code == 200
    assert client.delete(f"/api/track/reports/{report}/share", headers=headers).status_code == 204
    for path in ("", "/runs/in-a"):
        assert anyone.get(f"/api/shared/reports/{newer}{path}").status_code == 404
    assert anyone.post(f"/api/shared/reports/{newer}/buckets", json=body).status_code == 404
    assert anyone.get("/api/shared/reports/neon_share_made-up").status_code == 404
    assert client.get(f"/api/track/reports/{report}", headers=headers).json()["shared"] is False

    assert client.delete(f"/api/track/reports/{report}", headers=headers).status_code == 204
    assert client.get(f"/api/track/reports/{report}", headers=headers).status_code == 404
    assert client.post(f"/api/track/reports/{report}/share", headers=headers).status_code == 404


def test_migration_0007_makes_the_tables_the_models_describe(metadata_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from neon_server.storage.metadata import open_metadata
    from neon_server.storage.metadata.models import Base

    store = open_metadata(metadata_url)
    try:
        with store.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        store.close()
    ours = [d for d in diffs if "track_views" in str(d) or "track_dashboard" in str(d) or "track_reports" in str(d)]
    assert ours == []


def test_a_share_link_reads_the_points_and_files_of_its_runs_only(client: TestClient, services: Services,
                                                                  headers: dict[str, str],
                                                                  project_key: tuple[str, str],
                                                                  runs: list[str]) -> None:
    """Histogram and image blocks read series points and file bytes: through a share link, only those of the
    report's runs (a key another run logged is a 404, as an unknown one is)."""
    project_id, _ = project_key
    for run_id in runs:
        writes = RunWrites(run_id)
        writes.set_attribute("sample", FileRef(f"{run_id}/sample.png", 4, "image/png"), 0)
        for step in range(2):
            writes.add_file("images", step, 0, FileRef(f"{run_id}/img-{step}.png", 4, "image/png"))
        asyncio.run(services.track.write(project_id, writes))
        for key in (f"{run_id}/sample.png", f"{run_id}/img-0.png", f"{run_id}/img-1.png"):
            assert client.put(f"/api/track/files/{key}", headers=headers, content=key.encode()).status_code == 201
    report = client.post("/api/track/reports", headers=headers, json={
        "name": "Images", "spec": spec(line("a", "loss")), "runs": runs[:2]}).json()["id"]
    token = client.post(f"/api/track/reports/{report}/share", headers=headers).json()["token"]
    anyone = TestClient(client.app)

    points = anyone.get(f"/api/shared/reports/{token}/runs/in-b/points", params={"path": "images", "kind": "file"})
    assert points.status_code == 200, points.text
    assert points.json() == client.get("/api/track/runs/in-b/points", headers=headers,
                                       params={"path": "images", "kind": "file"}).json()
    assert [p["value"]["path"] for p in points.json()["points"]] == ["in-b/img-0.png", "in-b/img-1.png"]
    assert anyone.get(f"/api/shared/reports/{token}/runs/outside/points",
                      params={"path": "images", "kind": "file"}).status_code == 404
    for key in ("in-a/sample.png", "in-b/img-1.png"):
        answer = anyone.get(f"/api/shared/reports/{token}/files/{key}")
        assert (answer.status_code, answer.content) == (200, key.encode())
    for key in ("outside/sample.png", "outside/img-0.png", "in-a/nothing.png", "in-a"):
        assert anyone.get(f"/api/shared/reports/{token}/files/{key}").status_code == 404, key
    # names: only those the report's runs have, counted among them (a /regex/ metric of a block resolves so)
    outside = RunWrites("outside")
    outside.add_float("secret/loss", 0, 0, 1.0)
    asyncio.run(services.track.write(project_id, outside))
    names = anyone.get(f"/api/shared/reports/{token}/attributes", params={"regex": "loss$"})
    assert names.status_code == 200, names.text
    assert [(a["path"], a["runs"]) for a in names.json()["attributes"]] == [("loss", 2)]
    client.delete(f"/api/track/reports/{report}/share", headers=headers)
    assert anyone.get(f"/api/shared/reports/{token}/files/in-a/sample.png").status_code == 404
    assert anyone.get(f"/api/shared/reports/{token}/attributes").status_code == 404
