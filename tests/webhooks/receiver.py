"""A webhook receiver on loopback for tests/webhooks.rs: verifies every delivery with the
Standard Webhooks reference library (`standardwebhooks` from PyPI), answers 500 to the first
FAIL_FIRST requests and 204 after, and appends one JSON line per request to LOG.

    python3 receiver.py PORT SECRET FAIL_FIRST LOG
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

port, secret, fail_first, log_path = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
webhook = Webhook(secret)
lock = threading.Lock()
seen = 0


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        entry = {"id": headers.get("webhook-id"), "path": self.path}
        try:
            payload = webhook.verify(body, headers)
            entry.update(verified=True, type=payload["type"], data=payload["data"])
        except Exception as err:  # a bad signature is what the test looks for
            entry.update(verified=False, error=str(err))
        with lock:
            seen += 1
            status = 500 if seen <= fail_first else 204
            entry["status"] = status
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps(entry) + "\n")
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
