"""Run the same action in several threads at once, each with its own app context and
database session (a request per thread, as on a threaded server): for race tests against
the real database. No sleeps: a barrier releases the threads together."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from flask import Flask

from idp.extensions import db

T = TypeVar("T")


def run_parallel(app: Flask, action: Callable[[int], T], n: int) -> list[T]:
    barrier, results, errors, lock = threading.Barrier(n), [], [], threading.Lock()

    def run(i: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                value = action(i)
            except BaseException as error:  # reported in the main thread
                with lock:
                    errors.append(error)
                return
            finally:
                db.session.remove()
            with lock:
                results.append(value)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
