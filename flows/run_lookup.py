"""What the Prefect server says of a run, for `om-runbook status` (only a configured server is asked)."""

from __future__ import annotations

from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.runtime import flow_run
from prefect.settings import PREFECT_API_URL
from prefect.utilities.urls import url_for


def flow_run_state(flow_run_id: str) -> str | None:
    """'Paused (go-no-go-0)', 'Running', ...; None when no server is configured; the failure when it cannot tell."""
    if not PREFECT_API_URL.value():
        return None
    try:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(UUID(flow_run_id)).state
    except Exception as exc:  # noqa: BLE001 - status must answer from the file whatever the API does
        return f"not known ({type(exc).__name__}: {str(exc)[:120]})"
    if state is None:
        return "no state"
    pause_key = state.state_details.pause_key if state.state_details else None
    return f"{state.name}" + (f" ({pause_key})" if pause_key else "")


def flow_run_ui_url() -> str | None:
    """This run's page in the Prefect UI. `prefect.runtime.flow_run.get_flow_run_ui_url()` builds
    `/flow-runs/flow-run/ID`, a route the Prefect 3 UI does not have; `url_for` builds `/runs/flow-run/ID`."""
    run_id = flow_run.id
    return url_for("flow-run", obj_id=run_id) if run_id else None
