"""Running a coroutine from a test, whatever the test thread already runs."""

import asyncio
import threading


def run(coroutine):
    """`asyncio.run(coroutine)` on a thread of its own: a test before this one (the browser
    tests' Playwright) may have left an event loop running on the test's thread."""
    outcome = {}

    def target():
        try:
            outcome["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # re-raised on the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
