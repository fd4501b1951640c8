"""The project's Redis result backend: results stored and read as usual, never pre-subscribed."""

from __future__ import annotations

from celery.backends.redis import RedisBackend as CeleryRedisBackend


class RedisBackend(CeleryRedisBackend):
    """Celery's Redis result backend without the pub/sub subscription made on every send.

    Celery subscribes to a task's result channel when the task is sent, so that a
    later ``.get()`` is fast. Web processes never wait for results, and a send
    that fails (broker down) leaves that subscription behind for good: one per
    failed launch. ``.get()`` still works: it subscribes when it starts waiting
    and reads the stored result first.
    """

    def on_task_call(self, producer, task_id) -> None:
        return None
