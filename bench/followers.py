"""Idle followers of a stream: what holding many open Server-Sent Events streams costs the service.

`hold(target, count, measure)` opens `count` idle followers of one account's ledger
(`GET /accounts/{id}/events`, a stream that never ends), keeps them while `measure()` runs in a
thread, and returns what `measure` returned with the service's RSS before and while they were
held. Each follower is a plain socket that sent its request and read the response head: no
client library per connection, so that this process stays small.
"""
import asyncio
import resource
import urllib.parse

# Opened at once: more than the listen backlog would wait in it, uselessly.
BATCH = 500


async def _follow(host, port, path, token):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                 f"Accept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"a follower was refused: {head.splitlines()[0]!r}")
    return reader, writer


async def _hold(target, count, path, measure):
    url = urllib.parse.urlsplit(target.base)
    followers = []
    try:
        for start in range(0, count, BATCH):
            batch = [_follow(url.hostname, url.port, path, target.env["TOKEN"])
                     for _ in range(min(BATCH, count - start))]
            followers += await asyncio.gather(*batch)
        await asyncio.sleep(1)
        rss_held = sum(target.status_mib("VmRSS"))
        measured = await asyncio.to_thread(measure)
        return measured, rss_held
    finally:
        for _, writer in followers:
            writer.close()


def hold(target, count, measure):
    """Runs `measure()` while `count` idle followers are connected; returns its result, the RSS
    (MiB) before they connected and while they were."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 1024:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 4096), hard))
    rss_before = sum(target.status_mib("VmRSS"))
    path = f"/accounts/{target.env['ACCOUNT']}/events"
    measured, rss_held = asyncio.run(_hold(target, count, path, measure))
    return measured, rss_before, rss_held
