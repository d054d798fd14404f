"""The product's URLs plus `/bench/ack/`: a bare Django view that parses the JSON body and
commits one row, the yardstick the inbox webhook is compared with (`bench/inbox_stack.py`).

Bench only: loaded through `bench.stack_settings`, never by the product.
"""

import json

from django.db import connection, transaction
from django.http import HttpResponse, HttpResponseBadRequest
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.urls import urlpatterns as product_urlpatterns

TABLE = "bench_ack"
CREATE_TABLE = (f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, "
                "payload text NOT NULL, received_at timestamptz NOT NULL DEFAULT now())")


@csrf_exempt
@require_POST
def bare_ack(request):
    try:
        text = request.body.decode()
        json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return HttpResponseBadRequest()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {TABLE} (payload) VALUES (%s)", [text])
    return HttpResponse(status=200)


urlpatterns = [path("bench/ack/", bare_ack), *product_urlpatterns]
