"""A generation run's work on one chunk when the run makes conversations (``Settings.kind ==
"conversation"``): one call (:func:`dataset_gen.conversation_gen.generate_conversation`), one
stored item with its turns, the chunk marked done or failed.

Called by :mod:`dataset_gen.generation` in place of the per-question-type loop; everything about
the run (pool, lock, summary, servers taken out) is the run's, as for pairs.
"""

from __future__ import annotations

from .conversation_gen import NEIGHBOUR_CHARS_PER_TURN, Neighbour, generate_conversation
from .errors import DatasetGenError
from .generation_plan import FATAL
from .workers import Abandoned


def neighbours_of(store, project_id: int, chunks, turns: int) -> dict[int, tuple[Neighbour, ...]]:
    """For each of ``chunks`` shorter than :data:`NEIGHBOUR_CHARS_PER_TURN` characters per exchange,
    its neighbour: the next chunk of its document that is not skipped, or the one before for the
    last. Chunks long enough (or alone in their document) are left out."""
    short = {c.id for c in chunks if len(c.text) < NEIGHBOUR_CHARS_PER_TURN * turns}
    if not short:
        return {}
    by_document: dict[int, list] = {}
    for c in store.list_chunks(project_id):
        if not c.skipped:
            by_document.setdefault(c.document_id, []).append(c)
    found: dict[int, tuple[Neighbour, ...]] = {}
    for siblings in by_document.values():
        for i, c in enumerate(siblings):
            if c.id in short and len(siblings) > 1:
                other = siblings[i + 1] if i + 1 < len(siblings) else siblings[i - 1]
                found[c.id] = (Neighbour(other.id, other.text, other.heading_path),)
    return found


def conversation_chunk(run, chunk, lane: int, chat) -> None:
    """Make and save one conversation for ``chunk`` in ``run`` (a :class:`dataset_gen.generation._Run`
    whose ``neighbours`` come from :func:`neighbours_of`), unless it already has one for its current
    text; then finish the chunk as the pair loop does."""
    plan, settings, store, summary = run.plan, run.settings, run.store, run.summary
    error: DatasetGenError | None = None
    if chunk.id not in store.fresh_conversation_chunks([chunk.id]):
        language = plan.language(chunk)
        generate, repair = plan.templates[language]
        neighbours = run.neighbours.get(chunk.id, ())
        try:
            result = generate_conversation(
                chat, generate, repair, chunk_text=plan.texts[chunk.id], document=chunk.document,
                heading_path=chunk.heading_path, turns=settings.turns, language=language, options=run.options,
                context_tokens=plan.num_ctx, max_reasks=settings.max_reasks, scenario=settings.scenario,
                roles=settings.roles, neighbours=neighbours)
        except DatasetGenError as exc:
            error = exc
        else:
            with run.pool.lock:
                if run.pool.stopped:
                    raise Abandoned()
                assert result.conversation is not None
                store.add_conversation(chunk.id, summary.run_id, result.conversation)
                store.add_run_usage(summary.run_id, result.prompt_tokens, result.completion_tokens, result.duration_s)
                summary.pairs += 1
                summary.prompt_tokens += result.prompt_tokens
                summary.completion_tokens += result.completion_tokens
                run.pair_chunks.add(chunk.id)
    with run.pool.lock:
        if run.pool.stopped:
            raise Abandoned()
        fatal = error if isinstance(error, FATAL) else None
        if fatal is not None and run._take_out(chunk, lane, fatal):
            return
        if chunk.gen_status != "done":  # done by a run of another kind: its items stay as they are
            store.finish_chunk(chunk.id, summary.run_id, None if error is None else str(error))
        summary.done += 1
        run.host_chunks[lane] += 1
        if error is not None:
            from .generation import ChunkFailure  # generation imports this module
            summary.failures.append(ChunkFailure(chunk.id, chunk.document, chunk.ordinal, str(error)))
            if fatal and summary.error is None:
                summary.error = str(fatal)
                run.pool.halt.set()
        run._report()
