#!/usr/bin/env python3
"""A TCP relay for the chaos harness (scripts/chaos.sh, Tests/InsituEndToEndTests/ChaosTests.swift).

    chaos_relay.py --listen HOST:PORT [--listen-netns PATH] --target HOST:PORT

Accepts connections on --listen and forwards each to --target, both directions. With
--listen-netns (a file such as /var/run/netns/NAME) the listening socket is made inside that
network namespace and the outgoing connections in the namespace the relay started in: that is how
agents in their own namespaces reach an orchestrator whose API listens on the harness's loopback,
without giving the harness's own namespace an address.

SIGUSR1 delays every chunk by 300 ms in both directions (order preserved: one FIFO per direction
and a constant delay), SIGUSR2 ends the delay. It stands in for `tc qdisc ... netem delay 300ms`
on kernels built without netem. Prints "relay listening on HOST:PORT" once it accepts.
"""

import argparse
import ctypes
import os
import queue
import signal
import socket
import sys
import threading
import time

CLONE_NEWNET = 0x40000000
DELAY_SECONDS = 0.3
delay = 0.0


def set_delay(seconds):
    global delay
    delay = seconds


def setns(path):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns({path}): {os.strerror(errno)}")
    finally:
        os.close(fd)


def address(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def pump(source, destination):
    """Reads from source and writes to destination, each chunk held until it is due."""
    chunks = queue.Queue()

    def writer():
        while True:
            due, data = chunks.get()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if data is None:
                break
            try:
                destination.sendall(data)
            except OSError:
                break
        close(source)
        close(destination)

    threading.Thread(target=writer, daemon=True).start()
    while True:
        try:
            data = source.recv(65536)
        except OSError:
            data = b""
        chunks.put((time.monotonic() + delay, data or None))
        if not data:
            return


def serve(client, target):
    try:
        upstream = socket.create_connection(target, timeout=5)
        upstream.settimeout(None)
    except OSError:
        close(client)
        return
    for sock in (client, upstream):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
    threading.Thread(target=pump, args=(upstream, client), daemon=True).start()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--listen-netns")
    parser.add_argument("--target", required=True)
    options = parser.parse_args()
    # The harness owns the relay: if it dies without stopping it (kill -9), so does the relay.
    parent = os.getppid()

    def watch_parent():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch_parent, daemon=True).start()
    signal.signal(signal.SIGUSR1, lambda *_: set_delay(DELAY_SECONDS))
    signal.signal(signal.SIGUSR2, lambda *_: set_delay(0.0))

    original = None
    if options.listen_netns:
        original = f"/proc/{os.getpid()}/task/{threading.get_native_id()}/ns/net"
        original_fd = os.open(original, os.O_RDONLY)
        setns(options.listen_netns)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(address(options.listen))
    listener.listen(128)
    if original is not None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(original_fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back to the relay's own namespace")
        os.close(original_fd)
    print(f"relay listening on {options.listen}", flush=True)

    target = address(options.target)
    while True:
        client, _ = listener.accept()
        serve(client, target)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
