"""A typed client for Neon's REST API (what the SDK and CLI use to talk to a server)."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

import httpx

from neon.credentials import load_credentials

DEFAULT_BASE_URL = "http://127.0.0.1:3000"


class NeonError(RuntimeError):
    """The server refused a request; the message is the server's."""

    def __init__(self, status_code: int, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status_code}: {message}")
        self.status_code = status_code
        self.message = message
        self.details = details  # the whole error body (`code`, `message` and what the route adds), when JSON


class NeonClient:
    """`NeonClient()` finds the server like the SDK does: arguments, NEON_BASE_URL / NEON_API_KEY, then the
    credentials `neon up` saved."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *, timeout: float = 10.0) -> None:
        saved = load_credentials()
        self.base_url = (base_url or os.environ.get("NEON_BASE_URL") or (saved.base_url if saved else None)
                         or DEFAULT_BASE_URL).rstrip("/")
        key = api_key or os.environ.get("NEON_API_KEY") or (saved.api_key if saved else None)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NeonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            details = None
            try:
                details = response.json()["error"]
                message = details["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text
            raise NeonError(response.status_code, message, details if isinstance(details, dict) else None)
        return response.json() if response.content else None

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Any API call: the decoded JSON answer; a refusal raises NeonError with the server's message."""
        return self._request(method, path, **kwargs)

    def stream(self, method: str, path: str, **kwargs: Any) -> Any:
        """A streaming call (server-sent events), as `httpx.Client.stream`: use it in a `with`."""
        return self._http.stream(method, path, timeout=httpx.Timeout(10.0, read=None), **kwargs)

    def import_track_rows(self, arrow_stream: bytes) -> dict[str, Any]:
        """Send neptune-exporter rows (an Arrow IPC stream) to `POST /api/track/import`; a 422 (some rows left out,
        the rest written) raises NeonError whose `details` hold the answer with its `errors`."""
        result: dict[str, Any] = self._request("POST", "/api/track/import", content=arrow_stream,
                                               headers={"Content-Type": "application/vnd.apache.arrow.stream"})
        return result

    def export_track(self, run_ids: list[str] | None = None) -> Any:
        """`GET /api/track/export` streamed (an Arrow IPC stream of exporter rows): use it in a `with`."""
        return self._http.stream("GET", "/api/track/export", params={"run_id": run_ids or []},
                                 timeout=httpx.Timeout(60.0, read=None))

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/api/health")
        return result

    def get_trace(self, trace_id: str) -> dict[str, Any]:
        """{"trace": summary, "spans": [...]} — spans without inputs/outputs (see `get_span_payload`)."""
        result: dict[str, Any] = self._request("GET", f"/api/traces/{trace_id}")
        return result

    def get_span_payload(self, trace_id: str, span_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/api/traces/{trace_id}/spans/{span_id}/payload")
        return result

    def create_scores(self, scores: list[dict[str, Any]]) -> list[str]:
        result = self._request("POST", "/api/scores", json=scores)
        return list(result["score_ids"])

    # ------------------------------------------------------------ datasets
    def create_dataset(self, name: str, *, description: str = "",
                       items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Create a dataset (version 1 holds `items`, if given)."""
        body = {"name": name, "description": description, "items": items or []}
        result: dict[str, Any] = self._request("POST", "/api/datasets", json=body)
        return result

    def list_datasets(self) -> list[dict[str, Any]]:
        return list(self._request("GET", "/api/datasets")["datasets"])

    def get_dataset(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/api/datasets/{_seg(name)}")
        return result

    def add_dataset_items(self, name: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        """Add items; returns the new version (`version`, `item_ids`)."""
        result: dict[str, Any] = self._request("POST", f"/api/datasets/{_seg(name)}/items", json={"items": items})
        return result

    def remove_dataset_items(self, name: str, item_ids: list[str]) -> dict[str, Any]:
        """Remove items; returns the new version."""
        result: dict[str, Any] = self._request("POST", f"/api/datasets/{_seg(name)}/items/remove",
                                               json={"item_ids": item_ids})
        return result

    def dataset_versions(self, name: str) -> list[dict[str, Any]]:
        return list(self._request("GET", f"/api/datasets/{_seg(name)}/versions")["versions"])

    def dataset_items(self, name: str, *, version: int | None = None, limit: int = 10_000,
                      offset: int = 0) -> dict[str, Any]:
        """{"version": N, "items": [...], "next_offset": …} at `version` (default: the newest)."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if version is not None:
            params["version"] = version
        result: dict[str, Any] = self._request("GET", f"/api/datasets/{_seg(name)}/items", params=params)
        return result

    def dataset_from_traces(self, name: str, *, filter: dict[str, Any] | None = None, limit: int = 100,
                            expected: str = "output") -> dict[str, Any]:
        """Add the root inputs (and outputs as expected values, unless `expected="none"`) of the traces that
        match `filter` (the trace list's parameters: `name`, `status`, `tag`, `from`…) as a new version."""
        body = {"filter": filter or {}, "limit": limit, "expected": expected}
        result: dict[str, Any] = self._request("POST", f"/api/datasets/{_seg(name)}/from-traces", json=body)
        return result

    # ------------------------------------------------------------ eval runs
    def create_eval_run(self, suite: str, version: str, *, case_count: int | None = None, dataset: str = "",
                        metadata: dict[str, str] | None = None) -> dict[str, Any]:
        """Open a run that this process will fill (status `running`)."""
        body = {"suite": suite, "version": version, "case_count": case_count, "dataset": dataset,
                "metadata": metadata or {}}
        result: dict[str, Any] = self._request("POST", "/api/eval-runs", json=body)
        return result

    def add_eval_results(self, run_id: str, results: list[dict[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = self._request("POST", f"/api/eval-runs/{_seg(run_id)}/results",
                                               json={"results": results})
        return result

    def finish_eval_run(self, run_id: str, *, status: str = "completed", error: str = "") -> dict[str, Any]:
        result: dict[str, Any] = self._request("POST", f"/api/eval-runs/{_seg(run_id)}/finish",
                                               json={"status": status, "error": error})
        return result

    def start_eval_run(self, suite: str, version: str, *, concurrency: int | None = None) -> dict[str, Any]:
        """Ask the server to run a suite from its evals folder (`neon eval` in a subprocess there)."""
        body = {"suite": suite, "version": version, "concurrency": concurrency}
        result: dict[str, Any] = self._request("POST", "/api/eval-runs/start", json=body)
        return result

    def list_eval_runs(self, *, suite: str | None = None, version: str | None = None, status: str | None = None,
                       limit: int = 50) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"suite": suite, "version": version, "status": status}.items() if v}
        return list(self._request("GET", "/api/eval-runs", params={**params, "limit": limit})["runs"])

    def get_eval_run(self, run_id: str) -> dict[str, Any]:
        """The run and its case results."""
        result: dict[str, Any] = self._request("GET", f"/api/eval-runs/{_seg(run_id)}")
        return result

    def compare_eval_runs(self, baseline: str, candidate: str, *, suite: str | None = None,
                          threshold: float = 0.95, seed: int = 0) -> dict[str, Any]:
        """The latest completed runs of two versions compared (see `neon.evaluate.compare`)."""
        params: dict[str, Any] = {"baseline": baseline, "candidate": candidate, "threshold": threshold,
                                  "seed": seed}
        if suite:
            params["suite"] = suite
        result: dict[str, Any] = self._request("GET", "/api/eval-runs/compare", params=params)
        return result

    # ------------------------------------------------------------ scoring production traffic
    def start_score_job(self, scorers: list[dict[str, Any]], *, filter: dict[str, Any] | None = None,
                        limit: int = 100, key: str = "", dry_run: bool = False) -> dict[str, Any]:
        """Score the newest `limit` stored traces matching `filter` (GET /api/traces' parameters) on the server,
        in the background; with `dry_run`, only list them. `scorers` are specs (`neon.evaluate.specs`)."""
        body = {"filter": filter or {}, "scorers": scorers, "limit": limit, "key": key, "dry_run": dry_run}
        result: dict[str, Any] = self._request("POST", "/api/score-jobs", json=body)
        return result

    def get_score_job(self, job_id: str) -> dict[str, Any]:
        """A score job: status, progress (total, done, scores_written, errors) and a summary per score."""
        result: dict[str, Any] = self._request("GET", f"/api/score-jobs/{_seg(job_id)}")
        return result

    def create_online_rule(self, name: str, scorers: list[dict[str, Any]], *, filter: dict[str, Any] | None = None,
                           sample_rate: float = 1.0, enabled: bool = True) -> dict[str, Any]:
        """Score new traces matching `filter` (root fields: name, agent_id, environment, tag…) as they arrive."""
        body = {"name": name, "scorers": scorers, "filter": filter or {}, "sample_rate": sample_rate,
                "enabled": enabled}
        result: dict[str, Any] = self._request("POST", "/api/online-rules", json=body)
        return result

    def list_online_rules(self) -> list[dict[str, Any]]:
        return list(self._request("GET", "/api/online-rules")["rules"])

    def update_online_rule(self, rule_id: str, **changes: Any) -> dict[str, Any]:
        """Change some fields of a rule, e.g. `update_online_rule(rule_id, enabled=False)`."""
        result: dict[str, Any] = self._request("PATCH", f"/api/online-rules/{_seg(rule_id)}", json=changes)
        return result

    def delete_online_rule(self, rule_id: str) -> None:
        self._request("DELETE", f"/api/online-rules/{_seg(rule_id)}")


def _seg(value: str) -> str:
    """One URL path segment (names may hold characters that mean something in a path)."""
    return quote(value, safe="")
