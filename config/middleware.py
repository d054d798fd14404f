from django.conf import settings
from django.utils import translation


class ChosenLanguageMiddleware:
    """Pages are in Russian unless the user chose another language with the switcher.

    Replaces Django's LocaleMiddleware, which would follow the browser's Accept-Language:
    staff of a Russian company often run English browsers and still expect the product in
    Russian, the language their colleagues and clients see. API clients are programs that
    state the language they want, so under /api/ Accept-Language is honoured.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.available = {code for code, _name in settings.LANGUAGES}

    def __call__(self, request):
        if request.path.startswith("/api/"):
            language = translation.get_language_from_request(request)
        else:
            chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
            language = chosen if chosen in self.available else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        return response
