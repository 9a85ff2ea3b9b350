"""`parse_wrk` reads wrk's summary, including percentiles printed with trailing spaces."""

from __future__ import annotations

from sbload.ackbench import parse_wrk

WRK = """Running 10s test @ http://127.0.0.1:40001/webhooks/msg91/inbound
  2 threads and 100 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    61.23ms   80.11ms   1.02s    91.20%
    Req/Sec     1.01k   210.33     1.50k    70.00%
  Latency Distribution
     50%   35.10ms
     75%   60.02ms
     90%  140.50ms
     99%    1.00s \n  20123 requests in 10.01s, 3.10MB read
  Non-2xx or 3xx responses: 3
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:   2010.30
Transfer/sec:    317.44KB
"""


def test_percentiles_in_seconds_with_trailing_space_are_read() -> None:
    r = parse_wrk(WRK)
    assert r.latency_ms["p50"] == 35.1
    assert r.latency_ms["p99"] == 1000.0
    assert r.latency_ms["max"] == 1020.0
    assert (r.requests, r.non_2xx, r.socket_errors) == (20123, 3, 3)
    assert r.requests_per_second == 2010.3
