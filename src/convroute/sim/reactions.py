"""How fast a policy follows a change of the best route: the reaction column of the
simulator's results."""

from __future__ import annotations


def reactions(best_history: list[tuple[int, str]], chosen: list[str]) -> list[int | None]:
    """For each change of the best route after the start: how many messages after the change
    the new best starts carrying more than half of the next 50 decisions (None if that never
    happens before the next change or the end)."""
    out: list[int | None] = []
    window = 50
    for k, (start, best) in enumerate(best_history[1:], start=1):
        end = best_history[k + 1][0] if k + 1 < len(best_history) else len(chosen)
        hits = [c == best for c in chosen[start:end]]
        on = sum(hits[:window])
        found = None
        for i in range(len(hits) - window + 1):
            if on * 2 > window:
                found = i
                break
            on -= hits[i]
            if i + window < len(hits):
                on += hits[i + window]
        out.append(found)
    return out
