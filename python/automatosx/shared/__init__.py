"""Guard state shared by a fleet of router processes through Redis (or Valkey).

``Router(..., shared="redis://host:6379/0")`` (or a :class:`SharedState` for its knobs) makes
each deployment's requests-per-minute and tokens-per-minute limits global across every process
using that Redis and deployment id, and spreads a breaker opening, a fleet-wide half-open
probe and a 429's cool-down to every process. The request path stays in-process (leases of
the global budget); Redis loss fails open to local limits. See ``docs/scale-out.md``.

Importing this package does not import the Redis client; attaching does.
"""

from automatosx.shared._lease import Budget, SharedGuard
from automatosx.shared._redis import SharedState

__all__ = ["Budget", "SharedGuard", "SharedState"]
