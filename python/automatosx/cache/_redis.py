"""The response cache in Redis (or Valkey), for a fleet: redis.asyncio, imported on open."""

from __future__ import annotations

from typing import Any

from automatosx.errors import ConfigurationError

__all__ = ["RedisCache"]


class RedisCache:
    """A response cache in Redis shared by every router process that uses it.

    ``RedisCache("redis://host:6379/0")`` or ``Router(..., cache="redis://...")`` (the
    ``redis`` extra). Each reply is one string key ``<prefix><key>`` with the entry's TTL
    (``SET ... PX``), so Redis expires them and its own ``maxmemory`` policy bounds them.
    ``timeout_s`` bounds every call: a Redis that does not answer in time is a miss (the
    router logs a warning), never a stalled request."""

    def __init__(
        self, url: str, *, prefix: str = "automatosx:cache:", timeout_s: float = 0.25
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            got = url.split("://")[0] + "://..." if isinstance(url, str) else type(url).__name__
            raise ConfigurationError(
                "cache: a Redis cache URL is 'redis://host:6379/0' (redis://, rediss:// or "
                f"unix://), got {got!r}"
            )
        self.url = url
        self.prefix = prefix
        self.timeout_s = timeout_s
        self._redis: Any = None

    def __repr__(self) -> str:
        host = self.url.split("@")[-1]  # never the password
        return f"RedisCache({host!r})"

    async def open(self) -> None:
        if self._redis is not None:
            return
        try:
            from redis.asyncio import Redis
        except ImportError as exc:
            raise ConfigurationError(
                "cache: a Redis cache needs the redis client: pip install 'automatosx[redis]'"
            ) from exc
        self._redis = Redis.from_url(
            self.url,
            socket_timeout=self.timeout_s,
            socket_connect_timeout=self.timeout_s,
            decode_responses=False,
        )

    async def aclose(self) -> None:
        client, self._redis = self._redis, None
        if client is not None:
            await client.aclose()

    def _client(self) -> Any:
        if self._redis is None:
            raise ConfigurationError("RedisCache is not open: call open() (the router does)")
        return self._redis

    async def get(self, key: str) -> bytes | None:
        value = await self._client().get(self.prefix + key)
        return value if value is None or isinstance(value, bytes) else bytes(value)

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        await self._client().set(self.prefix + key, value, px=max(1, int(ttl_s * 1000)))
