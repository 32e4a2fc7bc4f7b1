"""Run one action in several threads released at the same instant (a form sent twice, two
desks at once), for tests marked ``django_db(transaction=True)``: each thread has its own
database connection, so the database's own locking is what is tested."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection


def at_once(actions: list[Callable[[], Any]], refused: type[Exception]) -> list[str]:
    """Each action's outcome: "ok", "refused" (``refused`` raised), or "error: ..." for
    anything else (a 500 in the app), so that a failure shows in the assertion."""
    barrier = threading.Barrier(len(actions))
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(action: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            action()
            result = "ok"
        except refused:
            result = "refused"
        except Exception as exc:  # noqa: BLE001 - reported, not hidden
            result = f"error: {exc!r}"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(outcomes)
