"""The client of the marketplace's REST API (the `merit` commands and the demo talk to the API
through it); problem+json answers become MeritErrors."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from services.core import errors
from services.settings import Settings

_BY_CODE: dict[str, type[errors.MeritError]] = {
    cls.code: cls
    for cls in (
        errors.NotFound,
        errors.Conflict,
        errors.Invalid,
        errors.Unauthorized,
        errors.Unavailable,
        errors.BrokerUnavailable,
        errors.StoreUnavailable,
        errors.ChainUnavailable,
        errors.TooLarge,
    )
}
RATE_LIMIT_WAITS = 3  # a 429 is waited out (its Retry-After, at most 10 s) this many times


FINISHED = ("done", "failed")


class ApiClient:
    def __init__(self, settings: Settings, base_url: str | None = None) -> None:
        self.base_url = (base_url or settings.effective_api_url).rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=10.0,
            headers={"Authorization": f"Bearer {settings.effective_client_api_key}"},
        )

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        resp = self._request(method, path, **kw)
        for _ in range(RATE_LIMIT_WAITS):
            wait = resp.headers.get("retry-after", "")
            if resp.status_code != 429 or not wait.isdigit() or int(wait) > 10:
                break
            time.sleep(int(wait))  # nothing was done: the same request again
            resp = self._request(method, path, **kw)
        if resp.status_code >= 400:
            try:
                body = resp.json()
            except ValueError:
                body = {"detail": resp.text[:200]}
            code = str(body.get("type", "")).rsplit("/", 1)[-1]
            cls = _BY_CODE.get(code, errors.MeritError)
            raise cls(body.get("detail") or resp.reason_phrase, hint=body.get("hint"))
        return resp.json()

    def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kw)
        except httpx.TransportError as exc:
            raise errors.Unavailable(
                f"the API at {self.base_url} is unreachable", hint="start the stack with `merit up`"
            ) from exc

    def submit_task(
        self,
        prompt: str,
        swarm_size: int | None,
        options: list[str] | None = None,
        *,
        fee_wei: int | None = None,
        payer: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"prompt": prompt}
        if fee_wei is not None:
            body["fee_wei"] = str(fee_wei)
        if payer is not None:
            body["payer"] = payer
        if swarm_size is not None:
            body["swarm_size"] = swarm_size
        if options:
            body["options"] = options
        result: dict[str, Any] = self._call("POST", "/v1/tasks", json=body)
        return result

    def get_task(self, task_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v1/tasks/{task_id}")
        return result

    def wait_task(
        self,
        task_id: str,
        timeout: float,
        on_poll: Callable[[dict[str, Any]], None] = lambda _: None,
        interval: float = 0.2,
    ) -> dict[str, Any]:
        """Poll ``task_id`` until it is done or failed, or ``timeout`` seconds pass; the last
        view either way (the caller reads its status)."""
        deadline = time.monotonic() + timeout
        task = self.get_task(task_id)
        while task["status"] not in FINISHED and time.monotonic() < deadline:
            time.sleep(interval)
            task = self.get_task(task_id)
            on_poll(task)
        return task

    def nodes(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/v1/nodes")
        return result

    def registry_node(self, chain_node_id: int) -> dict[str, Any]:
        """The marketplace's record of registry node ``chain_node_id`` (NotFound until found)."""
        result: dict[str, Any] = self._call("GET", f"/v1/nodes/registry/{int(chain_node_id)}")
        return result
