"""Prefect's flow run heartbeat for the flows the command line starts, without Prefect's wait at each flow's end.

Prefect 3.8 emits `prefect.flow-run.heartbeat` from a thread that sleeps in 1 s steps, and a flow's end joins that
thread: 0 to 1 s more on every run (measured at 100k keys: 0.03 s from the flow body's end to the flow's, with the
heartbeat off; 0.2 and 1.0 s with it on). Zombie-run detection needs the heartbeats, so the command line hands them
over: Prefect's thread off, and each flow body below sends the same event, at the same frequency, from a thread that
stops at once. Flows started by a worker, where nothing was handed over, keep Prefect's own."""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import prefect
from prefect.context import FlowRunContext
from prefect.events import emit_event
from prefect.events.related import tags_as_related_resources
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, get_current_settings, temporary_settings

MINIMUM_SECONDS = 30  # Prefect's own floor for the heartbeat interval
P = ParamSpec("P")
R = TypeVar("R")
_HANDED_OVER: contextvars.ContextVar[int | None] = contextvars.ContextVar("om_runbook_heartbeat", default=None)


@contextmanager
def heartbeats_from_flow_bodies() -> Iterator[None]:
    """Around the command line's flow call: the user's heartbeat frequency (none if they turned it off) goes to the
    flow bodies, and Prefect's own thread stays off."""
    seconds = get_current_settings().flows.heartbeat_frequency
    if seconds is None:
        yield
        return
    token = _HANDED_OVER.set(max(seconds, MINIMUM_SECONDS))
    try:
        with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield
    finally:
        _HANDED_OVER.reset(token)


def with_heartbeat(body: Callable[P, R]) -> Callable[P, R]:
    """A flow body that sends its flow run's heartbeats while it runs, when the command line handed them over."""

    @functools.wraps(body)
    def beating(*args: P.args, **kwargs: P.kwargs) -> R:
        with _flow_run_heartbeat():
            return body(*args, **kwargs)

    # Prefect builds the flow's parameter model from this signature, resolving names in the wrapper's module: the
    # body's annotations are resolved here, in the body's own module, instead
    beating.__signature__ = inspect.signature(body, eval_str=True)  # type: ignore[attr-defined]
    return beating


@contextmanager
def _flow_run_heartbeat() -> Iterator[None]:
    seconds, context = _HANDED_OVER.get(), FlowRunContext.get()
    if seconds is None or context is None or context.flow_run is None:
        yield
        return
    run = context.flow_run
    resource = {"prefect.resource.id": f"prefect.flow-run.{run.id}", "prefect.resource.name": run.name or "",
                "prefect.version": prefect.__version__}  # fmt: skip
    related = [{"prefect.resource.id": f"prefect.flow.{run.flow_id}", "prefect.resource.role": "flow",
                "prefect.resource.name": context.flow.name if context.flow else ""}]  # fmt: skip
    if run.deployment_id:
        deployment = f"prefect.deployment.{run.deployment_id}"
        related.append({"prefect.resource.id": deployment, "prefect.resource.role": "deployment"})
    related += [tag.model_dump() for tag in tags_as_related_resources(set(run.tags or []))]
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            try:
                emit_event(event="prefect.flow-run.heartbeat", resource=resource, related=related)
            except Exception:  # noqa: BLE001  (as Prefect's own: a missed heartbeat must not end the run)
                logging.getLogger(__name__).debug("could not send a heartbeat", exc_info=True)
            stop.wait(seconds)

    # the thread sees this context's settings (the API URL), as Prefect's own heartbeat thread does
    thread = threading.Thread(target=contextvars.copy_context().run, args=(beat,), daemon=True, name="heartbeat")
    thread.start()
    try:
        yield
    finally:
        stop.set()
