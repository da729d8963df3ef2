#!/usr/bin/env python3
"""serve.py: serve a folder on 127.0.0.1 with the headers the threaded web app needs.

    scripts/serve.py [DIR=build/site] [PORT=8000] [--no-coi]

Cross-Origin-Opener-Policy + Cross-Origin-Embedder-Policy make the page cross-origin isolated
(SharedArrayBuffer, so the SIMD + pthreads build); --no-coi serves without them, as a blog's
iframe would be, and the page then runs the single-thread build. Python's standard library only.
"""
import functools
import http.server
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    coi = True
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".wasm": "application/wasm", ".js": "text/javascript", ".mjs": "text/javascript",
                      ".json": "application/json", ".safetensors": "application/octet-stream"}

    def end_headers(self):
        if self.coi:
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, fmt, *args):
        if "-q" not in sys.argv:
            super().log_message(fmt, *args)


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # a browser that cancels a download resets the connection: not worth a traceback
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    directory = args[0] if args else "build/site"
    port = int(args[1]) if len(args) > 1 else 8000
    Handler.coi = "--no-coi" not in sys.argv
    handler = functools.partial(Handler, directory=directory)
    with Server(("127.0.0.1", port), handler) as httpd:
        print(f"serving {directory} on http://127.0.0.1:{port}/ "
              f"({'cross-origin isolated' if Handler.coi else 'not isolated'}); Ctrl+C stops", flush=True)
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
