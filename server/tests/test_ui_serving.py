"""`neon up` serves the built web UI at `/`: deep links answer index.html, assets are cached, the API is untouched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from neon_server.app import create_app, openapi_document
from neon_server.runtime import Services

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'neon.db'}"


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    built = tmp_path / "dist"
    (built / "assets").mkdir(parents=True)
    (built / "index.html").write_text("<!doctype html><title>Neon</title><div id=root></div>")
    (built / "assets" / "index-abc123.js").write_text("console.log('neon')")
    (built / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("outside dist")
    return built


def test_the_app_and_its_deep_links_answer_index_html(services: Services, dist: Path) -> None:
    with TestClient(create_app(services, ui_dist=dist)) as client:
        for path in ("/", "/traces", "/traces/0123456789abcdef0123456789abcdef?span=abc", "/settings"):
            response = client.get(path)
            assert response.status_code == 200, path
            assert "<div id=root>" in response.text
            assert response.headers["cache-control"] == "no-cache"
        asset = client.get("/assets/index-abc123.js")
        assert asset.status_code == 200
        assert "immutable" in asset.headers["cache-control"]
        assert client.get("/favicon.svg").text == "<svg/>"
        assert client.get("/assets/missing.js").status_code == 404
        assert "outside dist" not in client.get("/../secret.txt").text
        assert "outside dist" not in client.get("/%2e%2e/secret.txt").text


def test_api_paths_keep_their_json_errors(services: Services, dist: Path) -> None:
    with TestClient(create_app(services, ui_dist=dist)) as client:
        missing = client.get("/api/nothing-here")
        assert missing.status_code == 404
        assert missing.json()["error"]["message"] == "no such endpoint: GET /api/nothing-here"
        assert client.post("/traces").json()["error"]["code"] == "method_not_allowed"
        # 405 says what is allowed: every method of the path, whichever route holds it
        for method, path, allow in (("POST", "/api/health", "GET"), ("GET", "/v1/traces", "POST"),
                                    ("OPTIONS", "/api/datasets", "GET, POST"),
                                    ("PUT", "/api/online-rules/r1", "DELETE, GET, PATCH"),
                                    ("POST", "/traces", "GET, HEAD"),
                                    # a literal path is not a value of a template's parameter (run id "start")
                                    ("GET", "/api/eval-runs/start", "POST"), ("GET", "/api/traces/ingest", "POST")):
            answer = client.request(method, path)
            assert (answer.status_code, answer.headers.get("allow")) == (405, allow), (method, path)


def test_without_a_build_the_root_says_how_to_build(services: Services, tmp_path: Path) -> None:
    with TestClient(create_app(services, ui_dist=tmp_path / "none")) as client:
        page = client.get("/traces")
        assert page.status_code == 200
        assert "make ui" in page.text


def test_the_ui_client_is_generated_from_the_current_schema() -> None:
    """web/openapi.json feeds the UI's typed client; `make ui` rewrites it when the API changes."""
    committed = json.loads((ROOT / "web" / "openapi.json").read_text())
    assert committed == openapi_document(), "web/openapi.json is stale: run `make ui` and commit it"
