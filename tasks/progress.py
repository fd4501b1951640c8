"""What a task author imports: progress and cooperative cancellation (tasks/worker/progress.py)."""

from tasks.worker.progress import TaskCancelled, cancel_requested, report_progress

__all__ = ["TaskCancelled", "cancel_requested", "report_progress"]
