"""``python -m convroute.writer BATCH_FD READS_FD``: the writer process a server worker starts
(``storage/writerproc.py``) with the worker's settings in its environment and one end of two
socket pairs: batches to carry out, and reads of its router.

It builds its own store and router (from the newest checkpoint and the log, like a starting
server: it is the worker's only router, so it also tells the routing events), says it is
ready, then carries out each batch it receives and answers it once committed, until the
socket closes. Interrupts are the server's to handle: the child ignores SIGINT and SIGTERM
and stops when the server closes the socket (or dies), after the batch in hand, so a batch is
never cut between its commit and its answer by a Ctrl-C.
"""

from __future__ import annotations

import dataclasses
import gc
import signal
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any

from convroute import logs
from convroute.bootstrap import Container, batch_writer, bootstrap, read_the_log
from convroute.config import Settings
from convroute.storage.writerproc import serve_batches, serve_reads


def answer(c: Container, name: str, args: tuple[Any, ...]) -> Any:
    """A read of the router (``storage.writerproc.READS``)."""
    if name == "progress":
        return c.router.applied, c.follower.polls, c.follower.failures
    return getattr(c.router, name)(*args)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not all(a.isdigit() for a in argv):
        print("usage: python -m convroute.writer BATCH_FD READS_FD (started by convroute serve)",
              file=sys.stderr)  # fmt: skip
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    batches, reads = Connection(int(argv[0])), Connection(int(argv[1]))
    settings = dataclasses.replace(Settings.from_env(), writer="thread")
    logs.configure(settings.log_level)
    c = bootstrap(settings, migrate=False)
    read_the_log(c, ", in the writer process")
    gc.freeze()  # what start-up built lives as long as the process (as in the server)
    c.follower.start()
    threading.Thread(
        target=serve_reads, args=(reads, lambda name, args: answer(c, name, args)),
        name="convroute-router-reads", daemon=True,
    ).start()  # fmt: skip
    try:
        serve_batches(batches, batch_writer(settings, c.store, c.router, c.clock))
    finally:
        batches.close()
        reads.close()
        c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
