"""Django 5.2's own answers for the fixture of tests/src/library.rs: results and statement
counts that the Rust suite asserts (tests/tests/relations.rs, transaction_control.rs).

Not part of the test suite, and Django is not a dependency: run it by hand when a rule
needs checking against Django.

    python3 -m venv /tmp/dj && /tmp/dj/bin/pip install "django>=5.2,<5.3"
    cd tests/django_parity && /tmp/dj/bin/python parity.py
"""
import os
import sys

import django
from django.conf import settings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
settings.configure(
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    INSTALLED_APPS=["library"],
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
)
django.setup()

from django.db import connection, transaction  # noqa: E402
from django.db.models import Q  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from library.models import Author, Book, Country, Lone, Publisher, Tag  # noqa: E402

with connection.schema_editor() as editor:
    for model in (Country, Publisher, Author, Tag, Book, Lone):
        editor.create_model(model)


def load():
    """Alice (UK) wrote B1 (300 pages, Penguin, sf+classic) and B2 (150, no publisher);
    Bob wrote B3 (200, Harper, sf); Carol wrote nothing."""
    for model in (Book, Author, Tag, Publisher, Country):
        model.objects.all().delete()
    uk = Country.objects.create(name="UK")
    penguin = Publisher.objects.create(name="Penguin")
    harper = Publisher.objects.create(name="Harper")
    alice = Author.objects.create(name="Alice", age=30, country=uk)
    bob = Author.objects.create(name="Bob", age=40)
    Author.objects.create(name="Carol")
    sf = Tag.objects.create(name="sf")
    classic = Tag.objects.create(name="classic")
    b1 = Book.objects.create(title="B1", pages=300, author=alice, publisher=penguin)
    b1.tags.set([sf, classic])
    Book.objects.create(title="B2", pages=150, author=alice)
    b3 = Book.objects.create(title="B3", pages=200, author=bob, publisher=harper)
    b3.tags.set([sf])
    return alice


def show(label, run):
    with CaptureQueriesContext(connection) as ctx:
        try:
            result = run()
        except Exception as e:  # noqa: BLE001 - the exception is the answer here
            result = f"raised {type(e).__name__}"
    print(f"{label}: {result}  Q={len(ctx.captured_queries)}")
    for q in ctx.captured_queries:
        print("    ", q["sql"][:140])


load()
names = lambda qs: list(qs.order_by("name").values_list("name", flat=True))  # noqa: E731
print("-- exclude across a many-valued relation (S38)")
show("exclude(pages>250, title=B2)", lambda: names(Author.objects.exclude(books__pages__gt=250, books__title="B2")))
show("filter(pages>250, title=B2)", lambda: names(Author.objects.filter(books__pages__gt=250, books__title="B2")))
show("exclude(pages>250 | title=B3)", lambda: names(Author.objects.exclude(Q(books__pages__gt=250) | Q(books__title="B3"))))
show("exclude(~Q(pages>100))", lambda: names(Author.objects.exclude(~Q(books__pages__gt=100))))
show("exclude(books__id__isnull=True)", lambda: names(Author.objects.exclude(books__id__isnull=True)))
show("exclude(books__publisher__isnull=True)", lambda: names(Author.objects.exclude(books__publisher__isnull=True)))
show("filter(books__publisher__isnull=True)", lambda: names(Author.objects.filter(books__publisher__isnull=True)))
show("exclude(books__tags__isnull=True)", lambda: names(Author.objects.exclude(books__tags__isnull=True)))
show("filter(~~Q(pages>100))", lambda: names(Author.objects.filter(~~Q(books__pages__gt=100))))
show("exclude(pages<160)", lambda: names(Author.objects.exclude(books__pages__lt=160)))
same_row = Book.objects.filter(pages__gt=250, title="B2").values("author")
show("exclude(id__in=same-row subquery)", lambda: names(Author.objects.exclude(id__in=same_row)))

print("-- projections through nullable and many-valued hops (S32)")
books = Book.objects.order_by("title")
show("title, publisher__name", lambda: list(books.values_list("title", "publisher__name")))
show("author__country__name", lambda: list(books.values_list("author__country__name", flat=True)))
show("author, publisher", lambda: list(books.values_list("author", "publisher")))
show("name, books__title", lambda: list(Author.objects.order_by("name", "books__title").values_list("name", "books__title")))
show("title, tags__name", lambda: list(Book.objects.order_by("title", "tags__name").values_list("title", "tags__name")))
show("filter(publisher=None)", lambda: list(Book.objects.filter(publisher=None).values_list("title", flat=True)))
show("filter(publisher__name=None)", lambda: list(Book.objects.filter(publisher__name=None).values_list("title", flat=True)))
show("filter(books__title=None)", lambda: names(Author.objects.filter(books__title=None)))
show("prefetch_related().values()", lambda: list(Author.objects.prefetch_related("books").order_by("name").values_list("name", flat=True)))
show("values().select_related()", lambda: Book.objects.values("title").select_related("author"))

print("-- transaction control is counted (S41)")


def atomic(body):
    def run():
        with transaction.atomic():
            body()
    return run


def fail():
    Lone.objects.create(name="y")
    raise ValueError("roll back")


show("atomic + one INSERT", atomic(lambda: Lone.objects.create(name="x")))
show("atomic + one INSERT, rolled back", atomic(fail))
show("nested atomic", atomic(atomic(lambda: Lone.objects.create(name="z"))))
alice = load()
show("instance delete, cascading", lambda: alice.delete())
load()
show("queryset delete, cascading", lambda: Author.objects.filter(name="Alice").delete())
alice = load()
show("instance delete, cascading, inside atomic", atomic(lambda: alice.delete()))
lone = Lone.objects.create(name="gone")
show("instance delete, nothing depends on it", lambda: lone.delete())
show("bulk_create, one batch", lambda: len(Lone.objects.bulk_create([Lone(name=f"a{i}") for i in range(3)])))
show("bulk_create, two batches", lambda: len(Lone.objects.bulk_create([Lone(name=f"b{i}") for i in range(3)], batch_size=2)))
load()
uk = Country.objects.get(name="UK")
show("PROTECT refuses a delete", lambda: uk.delete())
