#!/usr/bin/env python3
"""A minimal receiver for store-edge alert webhooks (Python standard library only).

Checks each delivery's X-Store-Edge-Signature (HMAC-SHA256 of "{timestamp}.{body}" under the
shared secret) and timestamp, skips repeats by X-Store-Edge-Idempotency-Key, prints the rest and
answers 204. A wrong signature or a stale timestamp gets 401 (the collector then retries, which
only helps once the secret is fixed).

    scripts/webhook-receiver.py --secret-file erp-webhook.key --listen 127.0.0.1:9000

A model, not a product: it keeps the seen keys in memory only, so a restart forgets them. A real
receiver stores them with the effect of the delivery, in one transaction.
"""

import argparse
import hashlib
import hmac
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

MAX_BODY = 1 << 20
MAX_SKEW_SECS = 300


def valid(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    """The check every receiver needs: the signature, in constant time, and a fresh timestamp."""
    try:
        if abs(time.time() - int(timestamp)) > MAX_SKEW_SECS:
            return False
    except ValueError:
        return False
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest("sha256=" + mac, signature)


def handler(secret: bytes, seen: set):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.send_response(413)
                self.end_headers()
                return
            body = self.rfile.read(length)
            ok = valid(
                secret,
                self.headers.get("X-Store-Edge-Timestamp", ""),
                body,
                self.headers.get("X-Store-Edge-Signature", ""),
            )
            if not ok:
                print("refused: bad signature or stale timestamp", file=sys.stderr)
                self.send_response(401)
                self.end_headers()
                return
            key = self.headers.get("X-Store-Edge-Idempotency-Key", "")
            if key in seen:
                print(f"repeat of {key} (already handled)")
            else:
                seen.add(key)
                print(f"{key}: {json.dumps(json.loads(body), indent=2)}")
            sys.stdout.flush()
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secret-file", required=True, help="file holding the shared secret")
    parser.add_argument("--listen", default="127.0.0.1:9000", help="host:port (default %(default)s)")
    args = parser.parse_args()
    with open(args.secret_file, "rb") as f:
        # The collector ignores surrounding whitespace in secret files; so must we.
        secret = f.read().strip()
    host, port = args.listen.rsplit(":", 1)
    server = HTTPServer((host, int(port)), handler(secret, set()))
    print(f"listening on http://{args.listen}/", file=sys.stderr)
    server.serve_forever()


if __name__ == "__main__":
    main()
