"""Exit 0 when a test backend answers: ``python tests/backends.py postgresql|redis URL``.

Used by ``make test`` to run the PostgreSQL and Redis halves of the suite wherever they
are available, with a two-second bound on each probe.
"""

from __future__ import annotations

import asyncio
import sys

PROBE_TIMEOUT_S = 2.0


async def answers(kind: str, url: str) -> bool:
    try:
        if kind == "postgresql":
            import asyncpg

            connection = await asyncpg.connect(
                url.replace("postgresql+asyncpg://", "postgresql://"), timeout=PROBE_TIMEOUT_S
            )
            await connection.close()
        else:
            import redis.asyncio

            client = redis.asyncio.from_url(url, socket_timeout=PROBE_TIMEOUT_S)
            try:
                await asyncio.wait_for(client.ping(), PROBE_TIMEOUT_S)
            finally:
                await client.aclose()
    except Exception:  # refused, unknown database, timed out: not here
        return False
    return True


if __name__ == "__main__":
    sys.exit(0 if asyncio.run(answers(sys.argv[1], sys.argv[2])) else 1)
