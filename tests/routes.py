"""Every route of the site, from Django's URL resolver, in one walk: the authorization matrix,
the headers, the hostile-input, the bulk-reading and the translation tests pick theirs from
it, so a new route reaches all of them at once."""

from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver


@dataclass(frozen=True)
class SiteRoute:
    name: str  # "namespace:name" (a resolver with a parameter: "namespace:<resolver …>")
    path: str  # the pattern as written, its prefixes included ("api/v1/deals/<int:pk>/")
    pattern: URLPattern | URLResolver
    namespace: str  # the innermost namespace ("" outside any), "admin" for the Django admin

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(self.pattern.pattern.regex.groupindex)

    @property
    def named(self) -> bool:
        return isinstance(self.pattern, URLResolver) or bool(self.pattern.name)


def site_routes(*, skip_namespaces=(), resolvers: bool = False) -> list[SiteRoute]:
    """Every URL pattern (and, with `resolvers`, every include that itself takes a
    parameter), outside the namespaces named in `skip_namespaces`."""
    found = []

    def walk(patterns, namespace, prefix):
        for p in patterns:
            path = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                if p.namespace and p.namespace in skip_namespaces:
                    continue
                inner = ":".join(filter(None, [namespace, p.namespace]))
                if resolvers and p.pattern.regex.groupindex:
                    found.append(SiteRoute(f"{inner}:<resolver {p.pattern}>", path, p,
                                           p.namespace or ""))
                walk(p.url_patterns, inner, path)
            elif isinstance(p, URLPattern):
                name = ":".join(filter(None, [namespace, p.name]))
                found.append(SiteRoute(name, path, p, namespace.rpartition(":")[2]))

    walk(get_resolver().url_patterns, "", "")
    return found
