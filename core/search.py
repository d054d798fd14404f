"""Full-text search's ground floor: the stored form of a model's searchable text (its
`search_document` column), the lookup that matches a query against it, and the snippet that
shows a hit.

PostgreSQL: a generated tsvector column, `to_tsvector('russian', ...)` (Snowball's Russian
stemmer, its English one for Latin words, the stop words dropped), under a GIN index; a query
is a tsquery of the typed words, so `договор` finds `договора`. Names add the `simple`
configuration (the words as written), matched as prefixes of what was typed: `Кед` finds
`Кедров`.

The embedded SQLite: a generated text column holding the same words folded (case, ё) and
stemmed here, by the same Snowball stemmers and stop words, through a function registered on
every connection; a query matches it word by word with instr(). Correct and case-insensitive
in Russian, and a scan of the rows the user may see: slower (the README says so).

No read ever needs the stored form: the column is never selected (`select_format`), so
loading a message does not carry its index along.
"""

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer
from django.db import models
from django.db.backends.signals import connection_created
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from core import stopwords

# Letters and digits: an underscore parts words, as PostgreSQL's parser has it.
WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 8  # of a query: more narrows nothing a person types
MAX_QUERY = 200  # characters of a query

_stemmers = threading.local()  # a Snowball stemmer keeps state between calls


def fold(text: str) -> str:
    return text.casefold().replace("ё", "е")


def words(text: str) -> list[str]:
    """The folded words of a text."""
    return WORD.findall(fold(text))


def is_stop_word(word: str) -> bool:
    return word in (stopwords.ENGLISH if word.isascii() else stopwords.RUSSIAN)


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """The stem of a folded word, as PostgreSQL's `russian` configuration makes it: Russian
    words by the Russian stemmer, Latin ones by the English, numbers as they are."""
    if not word.isalpha():
        return word
    language = "english" if word.isascii() else "russian"
    stemmer = getattr(_stemmers, language, None)
    if stemmer is None:
        stemmer = snowballstemmer.stemmer(language)
        setattr(_stemmers, language, stemmer)
    return stemmer.stemWord(word)


STEM = "~"  # marks a stem in the embedded mode's stored form


def sqlite_document(*texts) -> str:
    """The embedded mode's stored form: ` word ~stem word ~stem ... `, each once: every word
    as written (PostgreSQL's `simple` part, which names are matched against as typed) and,
    marked, the stem of every word but the stop words (its `russian` part, which word forms
    are matched against: `иванову` must not find the word `иванов`, only its stem)."""
    terms = set()
    for text in texts:
        for word in words(text or ""):
            terms.add(word)
            if not is_stop_word(word):
                terms.add(STEM + stem(word))
    return f" {' '.join(sorted(terms))} " if terms else ""


def sqlite_patterns(word: str, *, names: bool) -> list[str]:
    """What the embedded mode looks for in a stored form for one typed word (any of them):
    as PostgreSQL matches, its stem among the stems; a name also as a prefix of any word or
    stem, as typed and as stemmed (a tsquery `w:*` of each configuration meets every lexeme
    of the combined vector)."""
    if not names:
        return [f" {STEM}{stem(word)} "]
    return [f" {word}", f" {STEM}{word}", f" {stem(word)}", f" {STEM}{stem(word)}"]


@lru_cache(maxsize=1000)
def _like_pattern(pattern: str, escape: str | None) -> re.Pattern:
    parts, chars = [], iter(pattern)
    for char in chars:
        if escape and char == escape:
            parts.append(re.escape(next(chars, "")))
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def sqlite_like(pattern, value, escape=None):
    """SQLite's LIKE, case-insensitive beyond ASCII. Its own folds only A-Z, so Django's
    i-lookups (icontains, iexact, istartswith: the lists' filters) missed `Кедр` for `кедр`
    in the embedded mode."""
    if pattern is None or value is None:
        return None
    return _like_pattern(pattern, escape).fullmatch(str(value)) is not None


def _register_sqlite_functions(sender, connection, **kwargs):
    if connection.vendor == "sqlite":
        raw = connection.connection
        raw.create_function("crm_search_document", -1, sqlite_document, deterministic=True)
        raw.create_function("like", 2, sqlite_like, deterministic=True)
        raw.create_function("like", 3, sqlite_like, deterministic=True)


connection_created.connect(_register_sqlite_functions,
                           dispatch_uid="core.search.sqlite_functions")


# --- The stored form ------------------------------------------------------------------------


class SearchDocumentField(models.Field):
    """The column type of the stored form: tsvector, or text on SQLite. Never selected."""

    description = "The stored, indexed form of a row's searchable text"

    def db_type(self, connection):
        return "tsvector" if connection.vendor == "postgresql" else "text"

    def select_format(self, compiler, sql, params):
        return "NULL", []


# A file name's separators: PostgreSQL's parser reads `Счёт_КП.pdf` as a host name and
# `photo_2026-12-01.jpg` as a path, whose parts no typed word meets.
FILE_NAME_SEPARATORS = "_.-"


class SearchDocument(models.Func):
    """The stored form of these text columns: `names=True` for names, also matched as
    typed (prefixes of the words as written); `file_names=True` parts them at
    FILE_NAME_SEPARATORS first."""

    output_field = SearchDocumentField()

    def __init__(self, *expressions, names: bool = False, file_names: bool = False):
        super().__init__(*expressions)
        self.names = names
        self.file_names = file_names

    def as_postgresql(self, compiler, connection, **extra):
        texts = []
        params = []
        for expression in self.get_source_expressions():
            sql, expression_params = compiler.compile(expression)
            sql = f"COALESCE({sql}, '')"
            if self.file_names:  # the separators are literals of our own: no quoting needed
                spaces = " " * len(FILE_NAME_SEPARATORS)
                sql = f"translate({sql}, '{FILE_NAME_SEPARATORS}', '{spaces}')"
            texts.append(sql)
            params += expression_params
        joined = " || ' ' || ".join(texts)
        # The words as written, ё as е: a query is folded so (core.search.fold), and the
        # `russian` configuration folds it, `simple` does not (`Ёлкин` typed `Ёлк` found
        # nothing on PostgreSQL where the embedded mode found it).
        vectors = ([f"to_tsvector('simple'::regconfig, translate({joined}, 'ёЁ', 'еЕ'))"]
                   if self.names else [])
        vectors.append(f"to_tsvector('russian'::regconfig, {joined})")
        return " || ".join(vectors), params * len(vectors)

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, function="crm_search_document", **extra)


def document_field(*columns: str, names: bool = False,
                   file_names: bool = False) -> models.GeneratedField:
    """A model's `search_document`: the stored form of these columns, kept by the database
    on every write (a reply, an edit, an erasure), so the index is never behind the row."""
    # `file_names` only where set: the migrations hold the expression as it was written, and a
    # changed one would rewrite the table.
    options = {"names": names, **({"file_names": True} if file_names else {})}
    return models.GeneratedField(
        expression=SearchDocument(*(models.F(column) for column in columns), **options),
        output_field=SearchDocumentField(), db_persist=True, editable=False)


# --- Queries --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """What a person typed, as the words a search matches (folded, stop words dropped)."""

    words: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> "Query":
        kept = []
        for word in words((text or "")[:MAX_QUERY]):
            if not is_stop_word(word) and word not in kept:
                kept.append(word)
        return cls(tuple(kept[:MAX_WORDS]))

    def __bool__(self) -> bool:
        return bool(self.words)

    def stems(self) -> set[str]:
        return {stem(word) for word in self.words}


@dataclass(frozen=True)
class Match:
    """The value of a `search_document__matches` lookup: every word of `query`, as a word
    form (`names=False`) or also as the prefix of a word as written (`names=True`)."""

    query: Query
    names: bool = False


def _tsquery_term(word: str, *, prefix: bool) -> str:
    # Words are \w+ only; quoting still keeps tsquery's operators out.
    return "'" + word.replace("'", "''").replace("\\", "\\\\") + "'" + (":*" if prefix else "")


@SearchDocumentField.register_lookup
class Matches(models.Lookup):
    lookup_name = "matches"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        match: Match = self.rhs
        if not match.query:
            return "1 = 0", []
        conditions, params = [], []
        for word in match.query.words:
            if connection.vendor == "postgresql":
                configs = ("simple", "russian") if match.names else ("russian",)
                either = " || ".join(f"to_tsquery('{config}'::regconfig, %s)" for config in configs)
                conditions.append(f"({either})")
                params += [_tsquery_term(word, prefix=match.names)] * len(configs)
            else:
                patterns = sqlite_patterns(word, names=match.names)
                conditions.append("(" + " OR ".join([f"instr({lhs}, %s) > 0"] * len(patterns))
                                  + ")")
                for pattern in patterns:
                    params += [*lhs_params, pattern]
        if connection.vendor == "postgresql":
            return f"{lhs} @@ ({' && '.join(conditions)})", [*lhs_params, *params]
        return "(" + " AND ".join(conditions) + ")", params


class Rank(models.Func):
    """How well a row matches (PostgreSQL's ts_rank); 0 on SQLite, whose order stays by
    time."""

    output_field = models.FloatField()

    def __init__(self, expression, query: Query):
        super().__init__(expression)
        self.query = query

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.get_source_expressions()[0])
        terms = " & ".join(_tsquery_term(word, prefix=False) for word in self.query.words)
        return f"ts_rank({sql}, to_tsquery('russian'::regconfig, %s))", [*params, terms]

    def as_sqlite(self, compiler, connection, **extra):
        return "0", []


# --- Snippets -------------------------------------------------------------------------------

SNIPPET_WORDS = 24


def snippet(text: str, query: Query, *, names: bool = False) -> SafeString:
    """The part of `text` around its first matching word, escaped, each matching word in
    <mark>: the client's text stays text."""
    text = text or ""
    stems = query.stems()
    spans, found = [], []  # (start, end) of each word, and of each matching word
    first = None  # the first matching word's number
    for word in WORD.finditer(text):
        folded = fold(word.group())
        if stem(folded) in stems or (names and any(folded.startswith(w) for w in query.words)):
            found.append(word.span())
            first = len(spans) if first is None else first
        spans.append(word.span())
    start_word = max(0, first - SNIPPET_WORDS // 3) if first is not None else 0
    end_word = min(len(spans), start_word + SNIPPET_WORDS)
    # From the text's very start, or a word's; to its end, or a word's.
    start = spans[start_word][0] if spans and start_word > 0 else 0
    end = spans[end_word - 1][1] if spans and end_word < len(spans) else len(text)
    marked, position = [], start
    for span_start, span_end in found:
        if span_start < start or span_end > end:
            continue
        marked.append(escape(text[position:span_start]))
        marked.append(f"<mark>{escape(text[span_start:span_end])}</mark>")
        position = span_end
    marked.append(escape(text[position:end]))
    prefix = "… " if start > 0 else ""
    suffix = " …" if end < len(text) else ""
    return mark_safe(prefix + " ".join("".join(marked).split()) + suffix)  # noqa: S308 (escaped above)


# --- The index ------------------------------------------------------------------------------


def documents_rebuilt(app_label: str, *models_and_indexes: tuple[str, str]):
    """A migration's operation: on PostgreSQL, these models' stored forms written again by
    the expression as it is now (the column dropped and generated anew, its GIN index
    built again), where the expression's SQL changed but not its arguments, which Django's
    autodetector sees. Rewrites each table once."""
    from django.db import migrations

    def rebuild(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return  # the embedded mode's stored form is this module's Python, always current
        for model_name, index in models_and_indexes:
            model = apps.get_model(app_label, model_name)
            field = model._meta.get_field("search_document")
            schema_editor.remove_field(model, field)
            schema_editor.add_field(model, field)
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {index} ON {model._meta.db_table} "
                "USING gin (search_document)")

    return migrations.RunPython(rebuild, migrations.RunPython.noop, elidable=False)


def gin_index(table: str, name: str):
    """A migration's operation: the GIN index of `table`'s stored form, on PostgreSQL only
    (the embedded SQLite scans). Not in the model's Meta: Django would build it on SQLite too.
    A plain CREATE INDEX: on a large table it holds writes back while it builds."""
    from django.db import migrations

    def create(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (search_document)")

    def drop(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")

    return migrations.RunPython(create, drop, elidable=False)
