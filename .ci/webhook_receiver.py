"""A webhook receiver for the typed-client smokes: records every POST to /hook (its headers and
raw body, as text) and answers 204; GET /received lists what it has recorded, as JSON.

    python3 webhook_receiver.py PORT_FILE

It listens on a free loopback port and writes that port to PORT_FILE once it does.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

received: list[dict[str, object]] = []


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length).decode("utf-8")
        received.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
        self.send_response(204)
        self.end_headers()

    def do_GET(self) -> None:
        listed = json.dumps(received).encode("utf-8")
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(listed)))
        self.end_headers()
        self.wfile.write(listed)

    def log_message(self, format: str, *args: object) -> None:
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1], "w", encoding="utf-8") as port_file:
    port_file.write(str(server.server_address[1]))
server.serve_forever()
