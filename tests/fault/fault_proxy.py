"""A TCP proxy between docgate and PostgreSQL that fails on command, for fault tests.

    proxy = FaultProxy(upstream_port)     # listens on 127.0.0.1:proxy.port
    proxy.blackhole()   # accept, but pass no byte either way (a partition)
    proxy.heal()        # pass again; what was held back flows, as TCP would retransmit it
    proxy.delay(0.05)   # pass every chunk 50 ms late
    proxy.reset()       # abort every open connection (RST), then keep passing
    proxy.repoint(port) # new connections go to another server (an address that moves), old ones are reset

Loopback only. One thread per direction per connection; meant for tens of connections.
"""
import socket
import struct
import threading
import time


class FaultProxy:
    def __init__(self, upstream_port, upstream_host="127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self._cond = threading.Condition()
        self._held = False
        self._delay = 0.0
        self._closed = False
        self._sockets = set()
        threading.Thread(target=self._accept_loop, daemon=True).start()

    # Commands.
    def blackhole(self):
        with self._cond:
            self._held = True

    def heal(self):
        with self._cond:
            self._held = False
            self._delay = 0.0
            self._cond.notify_all()

    def delay(self, seconds):
        with self._cond:
            self._delay = seconds

    def reset(self):
        with self._cond:
            victims = list(self._sockets)
            self._sockets.clear()
        for s in victims:
            _abort(s)

    def repoint(self, upstream_port, upstream_host="127.0.0.1"):
        with self._cond:
            self.upstream = (upstream_host, upstream_port)
        self.reset()

    def close(self):
        with self._cond:
            self._closed = True
            self._held = False
            self._cond.notify_all()
        self._listener.close()
        self.reset()

    # Machinery.
    def _accept_loop(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                _abort(client)
                continue
            with self._cond:
                self._sockets.update((client, server))
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self._cond:
                    while self._held and not self._closed:
                        self._cond.wait()
                    delay = self._delay
                if delay:
                    time.sleep(delay)  # the fault being injected
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with self._cond:
                self._sockets.discard(src)
                self._sockets.discard(dst)


def _abort(s):
    """Close with RST instead of FIN, at once.

    A pump thread may be blocked in recv on this socket, and close() alone does not
    wake it: the kernel keeps the socket open (no RST) until that recv returns. So
    wake it first with shutdown(SHUT_RD), which sends nothing; the RST goes out when
    the last reference is gone, an instant later."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.shutdown(socket.SHUT_RD)
    except OSError:
        pass
    s.close()
