"""Helpers for scripts/fuzz.sh, standard library only (the fuzz talks to the server over HTTP,
as any client would).

    python scripts/fuzz_setup.py free-port
    python scripts/fuzz_setup.py wait BASE_URL SECONDS
    python scripts/fuzz_setup.py token BASE_URL EMAIL PASSWORD
"""

import json
import socket
import sys
import time
import urllib.error
import urllib.request

MEDIA_TYPE = "application/vnd.api+json"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait(base_url, seconds):
    """Return once GET /api/v1/ping/ answers 200; fail after `seconds`."""
    deadline = time.monotonic() + float(seconds)
    while True:
        try:
            with urllib.request.urlopen(f"{base_url}/api/v1/ping/", timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            sys.exit(f"fuzz_setup: {base_url} did not answer within {seconds} s")
        time.sleep(0.2)


def token(base_url, email, password):
    """Sign in through POST /api/v1/sessions/ and return the bearer token."""
    body = json.dumps({"data": {"type": "Session", "attributes": {"email": email, "password": password}}})
    request = urllib.request.Request(
        f"{base_url}/api/v1/sessions/",
        data=body.encode(),
        method="POST",
        headers={"Content-Type": MEDIA_TYPE, "Accept": MEDIA_TYPE},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["data"]["attributes"]["token"]
    except urllib.error.HTTPError as exc:
        sys.exit(f"fuzz_setup: signing in as {email} failed: {exc.code} {exc.read().decode(errors='replace')}")


def main(argv):
    command, *args = argv
    if command == "free-port":
        print(free_port())
    elif command == "wait":
        wait(*args)
    elif command == "token":
        print(token(*args))
    else:
        sys.exit(f"fuzz_setup: unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
