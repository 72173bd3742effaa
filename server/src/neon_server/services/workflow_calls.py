"""Two Temporal calls every workflow-backed service makes the same way: find a workflow of the caller's project
(another project's is "not found", never "forbidden"), and steer one (a signal, or cancellation) with Temporal's
answers turned into the service errors the API maps to 404 / 409 / 503."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from neon.execute import shared as s
from neon_server.services.errors import Conflict, NotFound, Unavailable

PROJECT = SearchAttributeKey.for_keyword(s.SA_PROJECT)


async def project_handle(client: Client, workflow_id: str, project_id: str, *, missing: str,
                         result_type: type | None = None) -> WorkflowHandle[Any, Any]:
    """The handle of `workflow_id` if it exists and belongs to `project_id`; NotFound(`missing`) otherwise."""
    handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(workflow_id, result_type=result_type)
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(missing) from exc
        raise Unavailable(f"Temporal: {exc.message}") from exc
    if description.typed_search_attributes.get(PROJECT) != project_id:
        raise NotFound(missing)
    return handle


async def steer(handle: WorkflowHandle[Any, Any], action: str, *, ended: str) -> None:
    """Cancel the workflow (`action` "cancel") or send it the signal `action`; Conflict(`ended`) if it has closed."""
    try:
        if action == "cancel":
            await handle.cancel()
        else:
            await handle.signal(action)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise Conflict(ended) from exc
        raise Unavailable(f"Temporal: {exc.message}") from exc
