"""``python -m server``: run the live facial-expression web app."""

from __future__ import annotations

import argparse
import logging
import os
import ssl
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m server", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8080)), help="port (default 8080, or $PORT)")
    p.add_argument("--model", default=None, help="shipped model name or .keras path (default: ml's default model)")
    p.add_argument("--cert", help="TLS certificate (PEM) to serve HTTPS: browsers allow the camera only on "
                   "https:// or http://localhost")
    p.add_argument("--key", help="TLS private key (PEM) for --cert")
    p.add_argument("--ice-server", action="append", default=[], metavar="URL",
                   help="STUN/TURN server for both ends, e.g. stun:stun.example.org:3478 (repeatable)")
    p.add_argument("--small-faces", action="store_true",
                   help="also find small, distant faces (a classroom on one camera); about 5x the detection time")
    p.add_argument("--max-streams", type=int, default=8, help="most live streams at once (default 8)")
    a = p.parse_args(argv)
    if bool(a.cert) != bool(a.key):
        p.error("--cert and --key go together")
    if a.max_streams < 1:
        p.error("--max-streams must be at least 1")
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from aiohttp import web

    from ml.classifier import resolve_model

    from .app import create_app

    try:
        resolve_model(a.model)  # a wrong --model fails now, clearly, not after the server started
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    ssl_context = None
    if a.cert:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ssl_context.load_cert_chain(a.cert, a.key)
        except (OSError, ssl.SSLError) as e:
            print(f"error: cannot load --cert/--key: {e}", file=sys.stderr)
            return 2
    app = create_app(model=a.model, ice_servers=a.ice_server, max_streams=a.max_streams, small_faces=a.small_faces)
    scheme = "https" if ssl_context else "http"
    shown = "localhost" if a.host in ("127.0.0.1", "0.0.0.0", "::") else a.host
    web.run_app(app, host=a.host, port=a.port, ssl_context=ssl_context,
                print=lambda _: print(f"Serving on {scheme}://{shown}:{a.port}/ (Ctrl+C to stop)", flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
