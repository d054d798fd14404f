import gc

from django.urls import clear_url_caches, get_resolver

from config.memory import freeze_startup_objects


def test_start_up_objects_are_frozen_with_the_lazily_loaded_urlconfs():
    clear_url_caches()
    gc.unfreeze()  # this process loaded config.asgi already (the websocket tests)
    assert gc.get_freeze_count() == 0
    try:
        freeze_startup_objects()
        # Django, the apps and their libraries: far more than a handful of objects.
        assert gc.get_freeze_count() > 50_000
        # Loaded before the freeze, so the views and the reverse table are not walked by
        # every full collection afterwards.
        assert get_resolver()._populated
    finally:
        gc.unfreeze()
