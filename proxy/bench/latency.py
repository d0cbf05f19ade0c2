#!/usr/bin/env python3
"""Request-by-request latency on one keep-alive connection, without wrk's coordinated-omission
correction (wrk adds samples for the requests a stall kept it from sending, so one 3 ms stall
at 20k req/s becomes ~60 slow samples). Prints: p50 p99 p99.9 in µs.

    latency.py URL [AUTHORIZATION] [REQUESTS]
"""
import socket
import sys
import time
from urllib.parse import urlsplit


def main():
    url = urlsplit(sys.argv[1])
    auth = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 50000
    def connect():
        conn = socket.create_connection((url.hostname, url.port))
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    conn = connect()
    reconnects = 0
    head = f"GET {url.path or '/'} HTTP/1.1\r\nHost: {url.netloc}\r\n"
    if auth:
        head += f"Authorization: Bearer {auth}\r\n"
    request = (head + "\r\n").encode()
    samples = []
    while len(samples) < count:
        start = time.perf_counter_ns()
        conn.sendall(request)
        data = b""
        while True:
            piece = conn.recv(65536)
            if not piece:
                break
            data += piece
            end = data.find(b"\r\n\r\n")
            if end < 0:
                continue
            length = 0
            for line in data[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(data) >= end + 4 + length:
                break
        if not piece:  # closed by the server (a keep-alive limit): not a sample
            conn.close()
            conn = connect()
            reconnects += 1
            continue
        samples.append(time.perf_counter_ns() - start)
    samples.sort()
    pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))] / 1000
    print(f"{pick(0.5):.0f} {pick(0.99):.0f} {pick(0.999):.0f}")
    if reconnects:
        print(f"{reconnects} reconnects", file=sys.stderr)


if __name__ == "__main__":
    main()
