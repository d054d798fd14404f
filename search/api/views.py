"""`GET /api/v1/search/`: the search page's results as JSON, scoped, counted, throttled and
logged as the page."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.throttles import ListThrottle
from search import services
from search.forms import SearchForm

# The form's names for what the API calls otherwise ("from" is a keyword in Python).
API_NAMES = {"start": "from", "end": "to", "__all__": "non_field_errors"}


class HitSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="What it is: one of the `kind` parameter's values.")
    id = serializers.IntegerField()
    deal = serializers.IntegerField(allow_null=True, help_text="The deal it belongs to.")
    title = serializers.CharField(help_text="The deal's title, the contact's name...")
    snippet = serializers.CharField(
        help_text="HTML: the text around the first match, escaped, each matching word in "
        "<mark>. Client text stays text: safe to insert as HTML.")
    at = serializers.DateTimeField()
    url = serializers.CharField(help_text="The page that opens it (a message: its deal card "
                                "at the message).")


class ResultsSerializer(serializers.Serializer):
    count = serializers.DictField(
        child=serializers.IntegerField(),
        help_text=f"Hits per kind among what the caller may see, at most {services.COUNT_CAP} "
        f"({services.COUNT_CAP} means that many or more).")
    page = serializers.IntegerField()
    has_next = serializers.BooleanField()
    results = HitSerializer(many=True)


def _param(name, type_, description, enum=None):
    return OpenApiParameter(name, type_, OpenApiParameter.QUERY, description=description,
                            enum=enum)


class SearchView(APIView):
    throttle_classes = [ListThrottle]
    bulk_rows = True  # ListThrottle counts it as a list

    @extend_schema(
        operation_id="search",
        parameters=[
            _param("q", str, "What to find: words (any of their forms), a name as typed, a "
                   "phone or e-mail typed whole. Required, at most 200 characters."),
            _param("kind", str, "Only hits of this kind (every kind is still counted).",
                   enum=sorted(services.kinds())),
            _param("channel", str, "Only messages of this channel kind."),
            _param("from", OpenApiTypes.DATE, "First day (ISO)."),
            _param("to", OpenApiTypes.DATE, "Last day (ISO), included."),
            _param("user", int, "Only the records of this person (a deal's owner, a "
                   "message's, a note's author, a task's assignee)."),
            _param("order", str, "recent (default) or relevance.",
                   enum=[services.RECENT, services.RELEVANCE]),
            _param("page", int, f"1 to {services.MAX_PAGE}, {services.PER_PAGE} hits each."),
        ],
        responses=ResultsSerializer,
    )
    def get(self, request):
        form = SearchForm(request.query_params)
        if not form.is_valid():
            raise ValidationError({
                API_NAMES.get(field, field): list(errors) for field, errors in form.errors.items()})
        text = form.cleaned_data["q"]
        if not text.strip():
            raise ValidationError({"q": ["Type what to find."]})
        results = services.search(user=request.user, text=text, filters=form.filters(),
                                  page=form.cleaned_data["page"] or 1)
        services.record_reads(results)
        return Response({
            "count": results.counts, "page": results.page, "has_next": results.has_next,
            "results": [{"kind": hit.kind, "id": hit.id, "deal": hit.deal_id,
                         "title": hit.title, "snippet": str(hit.snippet),
                         "at": hit.at.isoformat(), "url": hit.url} for hit in results.hits],
        })
