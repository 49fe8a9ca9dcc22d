"""One uvicorn server on a ``SO_REUSEPORT`` socket that others share, plus a private health port.

``benchmarks/transports.py`` starts two of these to measure the kernel's spreading of
connections over processes; the private port tells when each process is ready.
"""

from __future__ import annotations

import argparse
import socket

import uvicorn


def _socket(port: int, *, reuse_port: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="the shared port")
    parser.add_argument("--health-port", type=int, required=True, help="this process's own port")
    args = parser.parse_args()
    sockets = [_socket(args.port, reuse_port=True), _socket(args.health_port, reuse_port=False)]
    config = uvicorn.Config(
        "nexus_serving.main:create_app",
        factory=True,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )
    uvicorn.Server(config).run(sockets=sockets)


if __name__ == "__main__":
    main()
