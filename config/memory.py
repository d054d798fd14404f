"""Keeping the garbage collector's full passes short in long-running server processes.

A process that has loaded Django, the apps and their libraries holds a few hundred thousand
objects that live as long as it does. CPython's oldest-generation collection walks every one
of them: about 100 ms in a Celery worker or a gunicorn worker, every 20 s or so under load,
which showed as stalls of the inbox's drain and of webhook answers (bench/inbox_stack.py).
`gc.freeze()` moves what exists at start-up to a permanent generation the collector no longer
walks; what the process allocates afterwards is collected as before. Frozen before gunicorn
forks its workers, the objects also stay shared with the parent instead of being copied.
"""

import gc


def freeze_startup_objects() -> None:
    _load_lazy_parts()
    gc.collect()  # what start-up left as garbage is freed, not frozen
    gc.freeze()


def _load_lazy_parts() -> None:
    """What Django would otherwise load on a process's first requests, left out of the freeze
    and walked by every full collection after it: the URLconfs with the views they import,
    and the reverse lookup table."""
    from django.urls import get_resolver

    resolver = get_resolver()
    resolver.url_patterns  # noqa: B018 (a property that imports the URLconfs)
    resolver.reverse_dict  # noqa: B018 (a property that builds the table)
