"""Whether a chair database and the server agree on how far it has been copied, and what to do when not.

Each batch a chair sends carries a random batch id; the server keeps the last one with the batch's last
outbox number (``replication_progress``), and the chair keeps the batch it is sending and the last one the
server confirmed (:mod:`monitor.store.outbox`). Comparing the two on connecting, and before each batch, tells
apart:

* the normal case, including a batch the server committed just before the chair lost the link;
* a server that holds less than it once confirmed (restored from an older dump, or replaced): the chair
  sends again everything it holds;
* a server that holds a history of this origin the chair file never wrote (the file was restored from a
  backup, or is a copy that also records elsewhere): the file's local row numbers would overwrite the
  server's rows, so the file takes a new origin id and the server's rows stay as they are.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from monitor.store.outbox import LocalProgress, Mark


class Verdict(enum.Enum):
    """What the comparison found."""

    #: The server has what this file confirmed (or the batch it was sending): carry on.
    IN_STEP = "in_step"
    #: The server lost part of what it confirmed: send everything again.
    SERVER_BEHIND = "server_behind"
    #: The server has a history of this origin this file never wrote: take a new origin.
    CHAIR_BEHIND = "chair_behind"


@dataclass(frozen=True, slots=True)
class Judgement:
    """The verdict, and up to which outbox number the chair may forget its entries (in step only: a batch
    the server committed just before the link broke)."""

    verdict: Verdict
    acknowledge_up_to: int | None = None


def judge(local: LocalProgress, server: Mark | None) -> Judgement:
    """Compare the chair's record of its copy with the server's (see the module doc)."""
    if server is None:
        if local.confirmed is None:
            return Judgement(Verdict.IN_STEP)  # nothing of this origin has reached the server yet
        return Judgement(Verdict.SERVER_BEHIND)
    if server == local.confirmed:
        return Judgement(Verdict.IN_STEP)
    if server.batch is None or (local.confirmed is None and local.sending is None):
        # A server row or a chair file from before batch ids: only the numbers can be compared.
        if local.confirmed is not None and server.seq < local.confirmed.seq:
            return Judgement(Verdict.SERVER_BEHIND)
        if server.seq > local.highest_seq:
            return Judgement(Verdict.CHAIR_BEHIND)
        return Judgement(Verdict.IN_STEP, server.seq)
    if server == local.sending:
        return Judgement(Verdict.IN_STEP, server.seq)
    if local.confirmed is not None and server.seq < local.confirmed.seq:
        return Judgement(Verdict.SERVER_BEHIND)
    return Judgement(Verdict.CHAIR_BEHIND)
