"""The load generator: wrk (Debian's) on 127.0.0.1, bounded in time."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


@dataclass
class Point:
    """One load point: an endpoint at one concurrency."""

    label: str
    url: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int

    def as_dict(self) -> dict:
        return asdict(self)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * UNITS[unit]


def wrk(
    label: str,
    url: str,
    concurrency: int,
    duration: float,
    headers: dict[str, str],
    body: str | None = None,
) -> Point:
    """Run wrk against ``url`` for ``duration`` seconds with ``concurrency`` connections.

    With ``body``, every request is a POST of it (wrk's Lua request table).
    """
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is missing: apt-get install wrk")
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError("the bench only loads 127.0.0.1")
    argv = [
        "wrk",
        f"-t{min(2, concurrency)}",
        f"-c{concurrency}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "--latency",
    ]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        if body is not None:
            # A Lua long string: the body is taken as it is, with no escapes to write.
            script.write(f'wrk.method = "POST"\nwrk.body = [==[{body}]==]\n')
            script.flush()
            argv += ["-s", script.name]
        out = subprocess.run(
            [*argv, url], capture_output=True, text=True, check=True, timeout=duration + 30
        ).stdout
    percentiles = dict(re.findall(r"^\s*(50|99)(?:\.0+)?%\s+(\S+)\s*$", out, re.M))
    if "50" not in percentiles or "99" not in percentiles:
        raise RuntimeError(f"cannot read wrk's output for {label} c={concurrency}:\n{out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)$", out, re.M)
    bad = int(errors.group(1)) if errors else 0
    if socket_errors:
        bad += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return Point(
        label=label,
        url=url,
        concurrency=concurrency,
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        p50_ms=_ms(percentiles["50"]),
        p99_ms=_ms(percentiles["99"]),
        requests=requests,
        errors=bad,
    )
