"""The few calls of the Docker Engine API a swarm backend needs, over the daemon's Unix
socket with httpx (Cove's HTTP client; see docs/decisions.md for why not docker-py)."""

from __future__ import annotations

import contextlib
import json
import struct
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # (loaded with the first Engine: a server on the local backend never needs it)
    import httpx

# The API version of Debian 12's docker.io (20.10), the oldest Cove supports: swarm task
# pids limits and the other fields Cove uses exist from it on.
API_VERSION = "v1.41"
# Each frame of a non-TTY log stream: stream (1 byte), 3 zero bytes, length (big-endian).
_FRAME = struct.Struct(">BxxxI")


class EngineError(Exception):
    """The daemon refused a call (its message), or can't be reached."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class Engine:
    def __init__(
        self,
        socket_path: str,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,  # (tests give a mock daemon)
    ) -> None:
        import httpx

        self.socket_path = socket_path
        self._client = httpx.AsyncClient(
            transport=transport or httpx.AsyncHTTPTransport(uds=socket_path),
            base_url=f"http://docker/{API_VERSION}",
            timeout=timeout,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise EngineError(f"Docker at {self.socket_path}: {exc}") from None
        if response.status_code >= 400:
            raise EngineError(_message(response), response.status_code)
        if not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    async def info(self) -> dict[str, Any]:
        return dict(await self.call("GET", "/info"))

    async def create_service(self, spec: dict[str, Any]) -> str:
        return str((await self.call("POST", "/services/create", json=spec))["ID"])

    async def remove_service(self, service_id: str) -> None:
        try:
            await self.call("DELETE", f"/services/{service_id}")
        except EngineError as exc:
            if exc.status != 404:
                raise

    async def _update(self, path: str, change: Callable[[dict[str, Any]], bool]) -> None:
        """Read the object at ``path``, let ``change`` edit its spec (False: nothing to
        change), and write it back at the version read (Swarm refuses a stale one)."""
        found = await self.call("GET", path)
        spec = found["Spec"]
        if change(spec):
            version = found["Version"]["Index"]
            await self.call("POST", f"{path}/update", params={"version": version}, json=spec)

    async def scale_service(self, service_id: str, replicas: int) -> None:
        def scale(spec: dict[str, Any]) -> bool:
            spec["Mode"] = {"Replicated": {"Replicas": replicas}}
            return True

        await self._update(f"/services/{service_id}", scale)

    async def label_node(self, node_id: str, key: str, value: str) -> None:
        """Set one label of a node (the rest of its spec unchanged)."""

        def label(spec: dict[str, Any]) -> bool:
            labels = spec.setdefault("Labels", {})
            changed = labels.get(key) != value
            labels[key] = value
            return changed

        await self._update(f"/nodes/{node_id}", label)

    async def services(self, label: str) -> list[dict[str, Any]]:
        filters = json.dumps({"label": [label]})
        return list(await self.call("GET", "/services", params={"filters": filters}))

    async def tasks(self, service_id: str) -> list[dict[str, Any]]:
        filters = json.dumps({"service": [service_id]})
        return list(await self.call("GET", "/tasks", params={"filters": filters}))

    async def network_id(self, name: str) -> str | None:
        filters = json.dumps({"name": [name]})
        found = await self.call("GET", "/networks", params={"filters": filters})
        return next((str(n["Id"]) for n in found if n.get("Name") == name), None)

    async def node(self, node_id: str) -> dict[str, Any]:
        return dict(await self.call("GET", f"/nodes/{node_id}"))

    async def service_logs(self, service_id: str) -> AsyncIterator[bytes]:
        """The service's output as it comes (stdout and stderr interleaved), forever: the
        caller stops reading once it knows the dyno has ended."""
        params = {"follow": "1", "stdout": "1", "stderr": "1"}
        request = self._client.build_request(
            "GET", f"/services/{service_id}/logs", params=params, timeout=None
        )
        response = await self._client.send(request, stream=True)
        try:
            if response.status_code >= 400:
                await response.aread()
                raise EngineError(_message(response), response.status_code)
            buffer = b""
            async for chunk in response.aiter_raw():
                buffer += chunk
                while len(buffer) >= _FRAME.size:
                    _, size = _FRAME.unpack_from(buffer)
                    if len(buffer) < _FRAME.size + size:
                        break
                    yield buffer[_FRAME.size : _FRAME.size + size]
                    buffer = buffer[_FRAME.size + size :]
        finally:
            await response.aclose()

    async def import_image(self, tarball: AsyncIterator[bytes], repo: str, tag: str) -> None:
        """``docker import``: an image from a root filesystem's tar stream."""
        params = {"fromSrc": "-", "repo": repo, "tag": tag}
        output = await self.call(
            "POST",
            "/images/create",
            params=params,
            content=tarball,
            headers={"Content-Type": "application/x-tar"},
            timeout=None,
        )
        # The daemon streams JSON progress lines; a failure is one of them.
        for line in str(output or "").splitlines():
            with contextlib.suppress(ValueError, AttributeError):
                error = json.loads(line).get("error")
                if error:
                    raise EngineError(f"importing the image failed: {error}")

    async def tag_image(self, ref: str, repo: str, tag: str) -> None:
        await self.call("POST", f"/images/{ref}/tag", params={"repo": repo, "tag": tag})

    async def image(self, ref: str) -> dict[str, Any] | None:
        try:
            return dict(await self.call("GET", f"/images/{ref}/json"))
        except EngineError as exc:
            if exc.status == 404:
                return None
            raise


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message") or response.text)
    except ValueError:
        return response.text.strip() or f"HTTP {response.status_code}"
