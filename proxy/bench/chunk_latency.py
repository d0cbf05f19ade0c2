#!/usr/bin/env python3
"""How long a streamed chunk takes to cross the proxy.

A mock OpenAI-style provider streams chat completion chunks, one every few milliseconds, each
carrying the monotonic clock's time it was written at; a client reads the stream and notes, per
chunk, how long after that it arrived. Read once directly from the mock and once through the
proxy, the difference is what the proxy adds per chunk (the clock is the machine's, shared by
both processes).

  chunk_latency.py serve PORT                 # the mock provider
  chunk_latency.py read URL [KEY] [MODEL]     # prints: p50 p99 (µs) of chunk delays
"""

import asyncio
import json
import sys
import time

CHUNKS = 200
INTERVAL_S = 0.002


def chunk(content):
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}


async def answer(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                         b"transfer-encoding: chunked\r\n\r\n")
            for _ in range(CHUNKS):
                await asyncio.sleep(INTERVAL_S)
                event = b"data: " + json.dumps(chunk(str(time.monotonic_ns()))).encode() + b"\n\n"
                writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                await writer.drain()
            usage = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                     "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": CHUNKS,
                                              "total_tokens": 5 + CHUNKS}}
            tail = b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n"
            writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def serve(port):
    server = await asyncio.start_server(answer, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


async def read(url, key, model):
    host_port, _, path = url.removeprefix("http://").partition("/")
    host, _, port = host_port.partition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = json.dumps({"model": model, "stream": True,
                       "messages": [{"role": "user", "content": "count"}]}).encode()
    auth = b"authorization: Bearer " + key.encode() + b"\r\n" if key else b""
    writer.write(b"POST /" + path.encode() + b" HTTP/1.1\r\nhost: " + host_port.encode() +
                 b"\r\ncontent-type: application/json\r\n" + auth +
                 b"content-length: %d\r\n\r\n" % len(body) + body)
    await writer.drain()
    delays = []
    buffer = b""
    while True:
        data = await reader.read(65536)
        if not data:
            break
        arrived = time.monotonic_ns()
        buffer += data
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            start = event.find(b"data: {")
            if start < 0:
                continue
            try:
                parsed = json.loads(event[start + 6:].split(b"\r\n")[0])
            except ValueError:
                continue
            for choice in parsed.get("choices", []):
                sent = choice.get("delta", {}).get("content")
                if sent and sent.isdigit():
                    delays.append((arrived - int(sent)) / 1000)
        if b"[DONE]" in buffer or b"[DONE]" in data:
            break
    writer.close()
    delays.sort()
    if not delays:
        sys.exit("no chunks arrived")
    p50 = delays[len(delays) // 2]
    p99 = delays[min(len(delays) - 1, len(delays) * 99 // 100)]
    print(f"{p50:.0f} {p99:.0f} {len(delays)}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        asyncio.run(serve(int(sys.argv[2])))
    elif sys.argv[1:2] == ["read"] and len(sys.argv) in (3, 4, 5):
        url, key, model = (sys.argv[2:] + ["", "chat-ts"])[:3]
        asyncio.run(read(url, key, model))
    else:
        sys.exit(__doc__)
