"""Container health check: does the HTTP server on this port answer?

    python deploy/healthcheck.py 8000

It asks /healthz/, which answers 200 only when the database and the cache answer. The request
carries the first of ALLOWED_HOSTS as its Host, so Django neither rejects nor logs it as a
disallowed host, and X-Forwarded-Proto: https, as the proxy sends it.
"""

import http.client
import os
import sys


def host_header() -> str:
    hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    host = hosts[0] if hosts else "localhost"
    if host == "*":
        return "localhost"
    return host.lstrip(".")  # ".example.ru" allows the bare domain too


def main(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        headers = {"Host": host_header(), "X-Forwarded-Proto": "https"}
        conn.request("GET", "/healthz/", headers=headers)
        status = conn.getresponse().status
    except OSError as e:
        print(f"no answer on port {port}: {e}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    if status != 200:
        print(f"port {port} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 8000))
