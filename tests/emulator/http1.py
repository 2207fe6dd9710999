"""
The HTTP/1.1 server under the emulator: one thread runs a selector loop over the listeners and every
connection, reads and parses requests, and hands each whole one to the handler on that thread. A
thread per connection (http.server's ThreadingHTTPServer) spends most of its CPU passing the GIL
between the threads of the daemon's many keep-alive connections: 3 to 5 times what one loop does.

A request whose answer may take time (a fault that hangs or trickles, a realtime UDF run) must not
stall the loop: the handler calls Connection.in_thread(), which serves it on a thread of its own with
the socket in blocking mode, and gives the connection back to the loop afterwards.

Keep-alive as in HTTP/1.1 (HTTP/1.0 asks for it), requests served one at a time per connection in
their order (pipelined ones too), bodies by Content-Length or chunked, "Expect: 100-continue"
answered. Every answer has Content-Length: the handler hands whole bodies.
"""
import collections
import http
import selectors
import socket
import struct
import threading
import time

from .core import Headers, http_date

HOST = "127.0.0.1"  # never anything else: the emulator has no business off this machine
HEAD_MAX = 256 * 1024  # request line and header fields
HEADERS_MAX = 100  # header fields, as http.server allows
BACKLOG = 1024  # the daemon opens dozens of connections at once
METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}
PHRASES = {s.value: s.phrase for s in http.HTTPStatus}
SERVER = "udfcron-emulator"


class Refused(Exception):
    """A request that cannot be read: answered with `status` and the connection closed."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Head:
    """A request's line and header fields, its body still to come. `previous`: the connection's last
    one, whose parsed fields serve again when they are the same bytes (as a client's polls send)."""

    def __init__(self, data, previous=None):
        line, _, block = bytes(data).partition(b"\r\n")
        words = line.decode("latin-1").split()
        if len(words) != 3 or not words[2].startswith("HTTP/1."):
            raise Refused(505 if len(words) == 3 and words[2].startswith("HTTP/") else 400,
                          f"bad request line {line[:100]!r}")
        self.method, self.target, self.version = words
        if self.method not in METHODS:
            raise Refused(501, f"unsupported method {self.method!r}")
        self.block = block
        self.headers = previous.headers if previous and previous.block == block else Headers(parse_fields(block))
        connection = self.headers.get("Connection", "").lower()
        self.keep_alive = connection == "keep-alive" or (self.version != "HTTP/1.0" and connection != "close")
        self.chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        self.expects_continue = (self.headers.get("Expect", "").lower() == "100-continue"
                                 and self.version != "HTTP/1.0")
        try:
            self.length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise Refused(400, "Content-Length is not a number") from None


def parse_fields(block):
    """[(name, value)] of the header fields in `block` (bytes, CRLF between fields)."""
    fields = []
    for line in block.decode("latin-1").split("\r\n") if block else ():
        if line[:1] in (" ", "\t") and fields:  # obsolete folding: a continuation of the previous field
            fields[-1] = (fields[-1][0], f"{fields[-1][1]} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise Refused(400, f"bad header field {line[:100]!r}")
        fields.append((name, value.strip()))
    if len(fields) > HEADERS_MAX:
        raise Refused(431, "too many header fields")
    return tuple(fields)


def chunked_body(data, limit):
    """(body, length taken) of the chunked body `data` starts with, or None while incomplete."""
    chunks, size_total, pos = [], 0, 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return None
        try:
            size = int(data[pos:eol].split(b";")[0].strip() or b"0", 16)
        except ValueError:
            raise Refused(400, "bad chunk size") from None
        pos = eol + 2
        if size == 0:
            while True:  # trailer fields, up to the empty line
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    return None
                if eol == pos:
                    return b"".join(chunks), eol + 2
                pos = eol + 2
        size_total += size
        if size_total > limit:
            raise Refused(413, "body too large")
        if len(data) < pos + size + 2:
            return None
        chunks.append(data[pos:pos + size])
        pos += size + 2


_date = (0, "")  # the Date header's second and text: a second has many answers


def date_now():
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, http_date(now))
    return _date[1]


class Connection:
    """One client connection. On the loop, sends never block (what the socket does not take waits
    for it to drain); on a thread of in_thread(), the socket blocks."""

    def __init__(self, server, sock, listener, client):
        self.server = server
        self.sock = sock
        self.listener = listener  # its name
        self.client = client
        self.inbox = bytearray()  # received, not yet served
        self.outbox = bytearray()  # to send, on the loop
        self.head = None  # of the request whose body is still coming
        self.last_head = None
        self.close_after = False  # once the outbox is sent
        self.closed = False
        self.threaded = False  # served on a thread of in_thread()
        self.events = 0  # what the loop watches for

    # -- what a handler calls

    def answer_head(self, status, headers, length):
        """The bytes of a response head: status line, Server, Date, `headers`, Content-Length, and
        Connection: close when the connection ends after it."""
        lines = [f"HTTP/1.1 {status} {PHRASES.get(status, '')}\r\nServer: {SERVER}\r\nDate: {date_now()}\r\n"]
        lines += [f"{key}: {value}\r\n" for key, value in headers]
        lines.append(f"Content-Length: {length}\r\n")
        if self.close_after:
            lines.append("Connection: close\r\n")
        lines.append("\r\n")
        return "".join(lines).encode("latin-1")

    def send(self, data):
        if self.closed:
            return
        if self.threaded:
            self.sock.sendall(data)
            return
        if not self.outbox:
            try:
                sent = self.sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                self.close()
                return
            data = data[sent:]
        if data:
            self.outbox += data
            self._watch(selectors.EVENT_READ | selectors.EVENT_WRITE)

    def close(self):
        """Closes it now (an orderly FIN)."""
        if not self.closed:
            self.closed = True
            self._watch(0)
            self.sock.close()

    def reset(self):
        """Drops it with a TCP RST (SO_LINGER 0), not an orderly FIN."""
        if not self.closed:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close()

    def in_thread(self, work):
        """Runs work() on a thread of its own, which may block; the connection waits for it."""
        self.threaded = True
        self._watch(0)
        self.sock.setblocking(True)
        threading.Thread(target=self._work, args=(work,), daemon=True).start()

    # -- the loop's side

    def _work(self, work):
        try:
            work()
        except OSError:
            self.close()  # the client went away
        finally:
            self.server.give_back(self)

    def _watch(self, events):
        if events == self.events or (self.closed and events):
            return
        if not self.events:
            self.server.selector.register(self.sock, events, self)
        elif not events:
            self.server.selector.unregister(self.sock)
        else:
            self.server.selector.modify(self.sock, events, self)
        self.events = events

    def readable(self):
        try:
            data = self.sock.recv(262144)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the client sends no more: it gets what is on its way, then the connection ends
            if self.outbox:
                self.close_after = True
                self._watch(selectors.EVENT_WRITE)
            else:
                self.close()
            return
        self.inbox += data
        self.serve_inbox()

    def writable(self):
        try:
            sent = self.sock.send(self.outbox)
        except BlockingIOError:
            return
        except OSError:
            self.close()
            return
        del self.outbox[:sent]
        if not self.outbox:
            self._watch(selectors.EVENT_READ)
            self.serve_inbox()

    def serve_inbox(self):
        """Serves the requests received whole, one at a time: each answer sent (or its thread done)
        before the next request is looked at."""
        while not self.closed and not self.threaded and not self.outbox:
            if self.close_after:
                self.close()
                return
            try:
                request = self._next_request()
            except Refused as e:
                self.close_after = True
                self.server.handler.refuse(self, e.status, str(e))
                continue
            if request is None:
                return
            self.server.handler.serve(self, *request)

    def _next_request(self):
        """(head, body) of the next whole request in the inbox (taken out of it), or None."""
        if self.head is None:
            while self.inbox.startswith(b"\r\n"):  # empty lines between requests do not count
                del self.inbox[:2]
            end = self.inbox.find(b"\r\n\r\n")
            if end < 0:
                if len(self.inbox) > HEAD_MAX:
                    raise Refused(431, "request head too large")
                return None
            self.head = self.last_head = Head(self.inbox[:end], self.last_head)
            del self.inbox[:end + 4]
            if self.head.length < 0:
                raise Refused(400, "Content-Length is negative")
            if self.head.length > self.server.body_max:
                raise Refused(413, "body too large")
            if self.head.expects_continue:
                self.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        head = self.head
        if head.chunked:
            found = chunked_body(self.inbox, self.server.body_max)
            if found is None:
                return None
            body, end = found
        else:
            if len(self.inbox) < head.length:
                return None
            body, end = bytes(self.inbox[:head.length]), head.length
        del self.inbox[:end]
        self.head = None
        self.close_after = not head.keep_alive
        return head, body


class Server:
    """The loop: listeners, connections, and connections given back by threads. `handler` has
    serve(connection, head, body) and refuse(connection, status, message); both run on the loop."""

    def __init__(self, handler, body_max):
        self.handler = handler
        self.body_max = body_max
        self.selector = selectors.DefaultSelector()
        self.returned = collections.deque()  # connections whose thread is done
        self.wake_reader, self.wake_writer = socket.socketpair()
        self.wake_reader.setblocking(False)
        self.selector.register(self.wake_reader, selectors.EVENT_READ, self.wake_reader)
        self.listeners = {}  # socket -> name
        self.stopping = False
        self.thread = None

    def listen(self, name, port):
        """Binds listener `name` to HOST:port (0: any free port); returns its URL."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
            sock.listen(BACKLOG)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self.selector.register(sock, selectors.EVENT_READ, sock)
        self.listeners[sock] = name
        return f"http://{HOST}:{sock.getsockname()[1]}"

    def start(self):
        self.thread = threading.Thread(target=self._loop, name="http", daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping = True
        self.wake_writer.send(b"!")
        self.thread.join()
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()
        self.selector.close()

    def give_back(self, conn):
        """From a thread of in_thread(): the loop takes the connection again."""
        if not conn.closed and conn.close_after:
            conn.close()
        if not conn.closed:
            conn.sock.setblocking(False)
        self.returned.append(conn)
        self.wake_writer.send(b"!")

    def _loop(self):
        while not self.stopping:
            for key, events in self.selector.select():
                target = key.data
                if isinstance(target, Connection):
                    if events & selectors.EVENT_WRITE and not target.closed:
                        target.writable()
                    if events & selectors.EVENT_READ and not target.closed and target.events:
                        target.readable()
                elif target is self.wake_reader:
                    self._take_back()
                else:
                    self._accept(target)

    def _accept(self, listener):
        for _ in range(BACKLOG):
            try:
                sock, client = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # out of descriptors: the client waits in the backlog
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small answers go out at once
            conn = Connection(self, sock, self.listeners[listener], client)
            conn._watch(selectors.EVENT_READ)

    def _take_back(self):
        try:
            self.wake_reader.recv(4096)
        except BlockingIOError:
            pass
        while self.returned:
            conn = self.returned.popleft()
            conn.threaded = False
            if not conn.closed:
                conn._watch(selectors.EVENT_READ)
                conn.serve_inbox()
