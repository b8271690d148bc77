"""A small closed-loop HTTP load generator: N threads, each with its own keep-alive
connection, for a fixed duration. Prints requests per second and p50/p99 latency.

Run it pinned to the other vCPU than the server (``taskset -c 1``). It only ever connects to
the address it is given (loopback in our benchmarks).
"""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# (method, path, headers, body) for one request; a factory so each request can differ.
Request = tuple[str, str, dict[str, str], bytes | None]
RequestSource = Callable[[], Request]
Check = Callable[[int, bytes], bool]


@dataclass
class Result:
    name: str
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def line(self) -> str:
        return (f"{self.name:28} {self.rps:9.1f} req/s   p50 {self.percentile(0.5):7.2f} ms   "
                f"p99 {self.percentile(0.99):7.2f} ms   n={self.count:6d}  errors={self.errors}"
                + (f"  ({self.first_error})" if self.first_error else ""))


def _connection(base: str) -> http.client.HTTPConnection:
    parts = urlsplit(base)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)


def run(name: str, base: str, source: RequestSource | Iterator[Request], *, seconds: float,
        concurrency: int, check: Check | None = None, max_requests: int | None = None,
        on_response: Callable[[dict[str, str]], None] | None = None) -> Result:
    """Drive ``source`` for ``seconds`` (or until ``max_requests``/the iterator ends)."""
    lock = threading.Lock()
    result = Result(name, seconds)
    deadline = time.perf_counter() + seconds
    budget = [max_requests if max_requests is not None else 10**12]
    next_request = source if callable(source) else (lambda it=source: next(it))

    def worker() -> None:
        conn = _connection(base)
        local: list[float] = []
        errors = 0
        first_error = ""
        while time.perf_counter() < deadline:
            with lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
                try:
                    method, path, headers, body = next_request()
                except StopIteration:
                    budget[0] = 0
                    break
            start = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                if on_response is not None:
                    on_response({k.lower(): v for k, v in response.getheaders()})
                ok = check(response.status, data) if check else response.status < 400
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = _connection(base)
            except (OSError, http.client.HTTPException) as error:
                ok, data = False, repr(error).encode()
                conn.close()
                conn = _connection(base)
            elapsed = time.perf_counter() - start
            if ok:
                local.append(elapsed)
            else:
                errors += 1
                first_error = first_error or data[:120].decode(errors="replace")
        conn.close()
        with lock:
            result.latencies.extend(local)
            result.errors += errors
            result.first_error = result.first_error or first_error

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


def summary(results: list[Result]) -> str:
    return "\n".join(r.line() for r in results)


__all__ = ["Result", "run", "statistics", "summary"]
