"""The emulator's listening socket: replies must not wait on Nagle's algorithm."""

from __future__ import annotations

import asyncio
import socket

from automatosx.emulator._server import _bind


async def test_accepted_connections_get_tcp_nodelay() -> None:
    """asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP; a listening socket
    created with proto 0 hands out connections that stall ~40 ms per keep-alive reply."""
    listener = _bind("127.0.0.1", 0)
    nodelay: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = writer.get_extra_info("socket")
        nodelay.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_connect, sock=listener)
    try:
        port = listener.getsockname()[1]
        _, client = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(nodelay, 5) != 0
        client.close()
        await client.wait_closed()
    finally:
        server.close()
        await server.wait_closed()
