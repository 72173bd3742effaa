"""Connecting to Temporal from settings: the embedded dev server or a cluster (address, namespace, TLS, API key).

A `temporalio.client.Client` is not tied to the event loop it was connected on: one client can serve the
worker thread's loop and the API's loop alike.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, TLSConfig

from neon_server.execute.attributes import SEARCH_ATTRIBUTES
from neon_server.settings import Settings


class TemporalUnavailable(RuntimeError):
    """Temporal cannot be reached or used; the message names the address and what to do."""


def tls_config(settings: Settings) -> bool | TLSConfig | None:
    """What `Client.connect(tls=…)` takes: None lets an API key turn TLS on by itself."""
    files = (settings.temporal_tls_ca, settings.temporal_tls_cert, settings.temporal_tls_key)
    if any(files):
        ca, cert, key = (path.read_bytes() if path else None for path in files)
        return TLSConfig(server_root_ca_cert=ca, client_cert=cert, client_private_key=key)
    return True if settings.temporal_tls else None


def embedded_address(settings: Settings) -> str:
    """The address of the dev server a running `neon up` on this NEON_HOME started (for `neon worker`)."""
    path: Path = settings.temporal_dir / "address"
    try:
        address = path.read_text().strip()
    except FileNotFoundError:
        raise TemporalUnavailable(
            f"no embedded Temporal dev server is running for NEON_HOME={settings.home} ({path} is missing): "
            "start `neon up` with the same NEON_HOME first, or set NEON_TEMPORAL_ADDRESS to a Temporal cluster"
        ) from None
    if not address:
        raise TemporalUnavailable(f"{path} is empty: restart `neon up`")
    return address


def client_address(settings: Settings) -> str:
    """Where this process should connect: the cluster's address, else the running dev server's."""
    return settings.temporal_address or embedded_address(settings)


async def connect_client(settings: Settings, address: str | None = None, *, connect_timeout: float = 10.0) -> Client:
    """A connected client for the settings' namespace; TemporalUnavailable naming the address if it fails."""
    target = address or client_address(settings)
    where = "the embedded dev server" if settings.temporal_embedded else "the Temporal cluster"
    try:
        client = await asyncio.wait_for(
            Client.connect(target, namespace=settings.temporal_namespace, tls=tls_config(settings),
                           api_key=settings.temporal_api_key),
            connect_timeout)
        await describe_namespace(client, rpc_timeout=connect_timeout)
    except TemporalUnavailable:
        raise
    except (TimeoutError, RuntimeError, OSError) as exc:
        detail = str(exc) or type(exc).__name__
        raise TemporalUnavailable(f"cannot connect to {where} at {target}: {detail}") from None
    return client


async def describe_namespace(client: Client, *, rpc_timeout: float = 5.0) -> None:
    """A real round trip to the frontend; TemporalUnavailable when it fails or the namespace is missing."""
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=client.namespace), timeout=timedelta(seconds=rpc_timeout))
    except RPCError as exc:
        raise TemporalUnavailable(
            f"Temporal at {client.service_client.config.target_host} does not serve namespace "
            f"{client.namespace!r}: {exc.message}") from None


async def ensure_search_attributes(client: Client) -> list[str]:
    """Register the Neon search attributes missing on the client's namespace; returns the names added.

    Uses the operator service, which a self-hosted cluster offers to an admin; on Temporal Cloud add them
    in its UI or with tcld instead (the error says so).
    """
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace))
        present = {**listed.system_attributes, **listed.custom_attributes}
        wrong = {name: kind for name, kind in SEARCH_ATTRIBUTES.items()
                 if name in present and present[name] != IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{kind.upper()}")}
        if wrong:
            raise TemporalUnavailable(f"search attributes exist with other types than Neon needs: {wrong}")
        missing = {name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{kind.upper()}")
                   for name, kind in SEARCH_ATTRIBUTES.items() if name not in present}
        if missing:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing))
    except RPCError as exc:
        raise TemporalUnavailable(
            f"cannot register search attributes on namespace {client.namespace!r}: {exc.message} "
            f"(on Temporal Cloud, add {', '.join(f'{n} ({k})' for n, k in SEARCH_ATTRIBUTES.items())} "
            "in the namespace's settings)") from None
    return sorted(missing)
