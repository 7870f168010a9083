"""``python -m server``: run the live facial-expression web app (flags: server/settings.py)."""

from __future__ import annotations

import os
import ssl
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["researcher"]:  # python -m server researcher add NAME | list | revoke NAME
        from .studies.researcher_cli import main as researcher_main

        return researcher_main(argv[1:])
    from .memory import keep_frames_out_of_the_heap

    keep_frames_out_of_the_heap()  # before any thread starts
    from .settings import FEATURES, Settings

    settings = Settings.from_args(argv)
    from . import logs

    logs.configure(settings.log_level)
    from aiohttp import web

    from ml.backend_quiet import import_keras_quietly
    from ml.registry import resolve_model

    from . import keys
    from .app import create_app
    from .storage.db import DatabaseError
    from .studies.screen import FolderError

    try:
        resolve_model(settings.model)  # a wrong --model fails now, clearly, not after the server started
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    ssl_context = None
    if settings.cert:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ssl_context.load_cert_chain(settings.cert, settings.key)
        except (OSError, ssl.SSLError) as e:
            print(f"error: cannot load --cert/--key: {e}", file=sys.stderr)
            return 2
    from .live.inference import default_live_threads, one_core_per_op

    if (settings.live_threads or default_live_threads()) > 1:
        one_core_per_op()  # before TensorFlow starts: it reads its thread settings once
    import_keras_quietly()  # TensorFlow's oneDNN notice, twice, ignores TF_CPP_MIN_LOG_LEVEL
    try:
        app = create_app(settings)
    except DatabaseError as e:
        print(f"error: --database: {e}", file=sys.stderr)
        return 2
    scheme = "https" if ssl_context else "http"
    shown = "localhost" if settings.host in ("127.0.0.1", "0.0.0.0", "::") else settings.host
    base = f"{scheme}://{shown}:{settings.port}"
    studies = app[keys.STUDIES]

    def ready(_) -> None:
        lines = [f"Serving on {base}/ (Ctrl+C to stop)"]
        if settings.features != set(FEATURES):
            lines.append(f"Parts on (--features): {','.join(f for f in FEATURES if f in settings.features)}")
        if "studies" in settings.features:
            # as Jupyter does: a token made at the first start is shown once, in the researcher's URL
            if studies.made_token:
                researcher = f"{base}/studies?token={studies.made_token}"
            else:
                researcher = (f"{base}/studies (log in with your token; new ones: "
                              "python -m server researcher add NAME)")
            lines.append(f"Studies (researcher): {researcher}")
        print("\n".join(lines), flush=True)

    try:
        web.run_app(app, host=settings.host, port=settings.port, ssl_context=ssl_context,
                    access_log_class=logs.AccessLogger, print=ready)
    except FolderError as e:
        print(f"error: FER_SCREEN_DIR: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
