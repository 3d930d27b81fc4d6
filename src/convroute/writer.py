"""``python -m convroute.writer FD``: the writer process a server worker starts
(``storage/writerproc.py``) with the worker's settings in its environment, one end of a
socket pair as ``FD``.

It builds its own store and router (from the newest checkpoint and the log, like a starting
server), says it is ready, then carries out each batch it receives and answers it once
committed, until the socket closes. Interrupts are the server's to handle: the child ignores
SIGINT and SIGTERM and stops when the server closes the socket (or dies), after the batch in
hand, so a batch is never cut between its commit and its answer by a Ctrl-C.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import signal
import sys
from multiprocessing.connection import Connection

from convroute import logs
from convroute.bootstrap import batch_writer, bootstrap
from convroute.config import Settings
from convroute.domain.errors import ConvrouteError
from convroute.storage.writerproc import serve_batches

log = logging.getLogger("convroute.writer")


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m convroute.writer FD (started by convroute serve)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    conn = Connection(int(argv[0]))
    settings = dataclasses.replace(Settings.from_env(), writer="thread")
    logs.configure(settings.log_level)
    c = bootstrap(settings, migrate=False)
    c.router.announce = False  # the server's own router tells the routing events
    try:
        c.follower.catch_up()
    except ConvrouteError as exc:
        log.warning("writer: the event log could not be read at start: %s", exc.message)
    gc.freeze()  # what start-up built lives as long as the process (as in the server)
    c.follower.start()
    try:
        serve_batches(
            conn, batch_writer(settings, c.store, c.router, c.clock),
            lambda: c.router.at_cap(c.clock()),
        )  # fmt: skip
    finally:
        conn.close()
        c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
