"""The website chat's public endpoints (no login: the widget on the company's site calls
them) and the demo site; the visitor's websocket is in config/routing.py."""

from django.urls import path

from inbox.views import widget

app_name = "widget"

urlpatterns = [
    path("widget/<slug:public_key>.js", widget.widget_script, name="script"),
    path("widget/<slug:public_key>/messages/", widget.widget_messages, name="messages"),
    path("demo/site/", widget.demo_site, name="demo_site"),
]
