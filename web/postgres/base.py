"""Django's PostgreSQL backend, with a connection health check that costs no round trip.

With CONN_HEALTH_CHECKS, Django checks a persistent connection at the start of each
request by running ``SELECT 1``: one more round trip for every page and every poll.
Between requests the connection is idle and the server has nothing to send, so a
readable socket means the server closed it (restart, terminated backend, idle timeout)
or is closing it. Looking at the socket tells that without asking the server.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        conn = self.connection
        if conn is None or conn.closed or conn.pgconn.status != pq.ConnStatus.OK:
            return False
        try:
            readable, _, _ = select.select([conn.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable
