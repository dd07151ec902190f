//! Issue 14, the edges a review found: origins, N+1 and unnecessary-load findings in
//! cases the issue's own tests do not reach (awaiting `using`/raw queries, strict loading
//! inside a capture, Debug reads, prefetch paths, `tokio::join!`, iterators, instances the
//! application built, related managers per row, non-ASCII SQL under tracing).

use orm_sqlx::prelude::*;
use orm_sqlx::{CapturedQuery, Error, analyze};
use orm_tests::library::{Author, Book, Tag};
use orm_tests::with_library;

/// Every statement of `q` came from `line` of this file.
#[track_caller]
fn all_from(q: &[CapturedQuery], line: u32) {
    assert!(!q.is_empty(), "no statement captured for line {line}");
    for s in q {
        let origin = s
            .origin
            .unwrap_or_else(|| panic!("no origin for line {line}: {s:?}"));
        assert_eq!(
            (origin.file(), origin.line()),
            (file!(), line),
            "statement {s:?}"
        );
    }
}

/// `qs.using(&db).await` evaluates the queryset (`Using: IntoFuture`), so its statement's
/// origin is the `.await`'s line, as for awaiting a queryset on the default database.
/// `Using::into_future` is not `#[track_caller]` and calls `into_vec` from inside
/// orm-core, so the location seen is the ORM's own and the origin is dropped (`None`).
#[tokio::test]
async fn awaiting_using_reports_the_callers_line() {
    with_library(|db, _, _| async move {
        let line = line!() + 1;
        let (rows, q) = capture_queries(async { Tag::objects().using(&db).await }).await;
        assert_eq!(rows.unwrap().len(), 2);
        all_from(&q, line);
    })
    .await;
}

/// Awaiting a `RawQuery` runs it on the default database, "as awaiting a queryset does";
/// awaiting a queryset reports the `.await`'s line, awaiting a raw query reports none
/// (`RawQuery::into_future` has no `#[track_caller]` and calls `into_vec` from raw.rs).
#[tokio::test]
async fn awaiting_a_raw_query_reports_the_callers_line() {
    orm_tests::on_each_backend(|db, _| async move {
        db.create_tables::<(Tag,)>().await.unwrap();
        db.set_default();
        let line = line!() + 2;
        let (rows, q) =
            capture_queries(async { RawQuery::<i64>::new("SELECT COUNT(*) FROM tags", ()).await })
                .await;
        assert_eq!(rows.unwrap(), [0]);
        all_from(&q, line);
    })
    .await;
}

/// `capture_queries(strict_loading(work))`, the natural way to combine them (and what
/// `QueryLayer` does with `.strict_loading(true)`): the select_related rows *are* read
/// inside `work`, so nothing is unnecessary. But `strict_loading` makes its `Observer`
/// when it is called, before the capture's observer exists, so the strict observer has
/// no parent: every read is noted on it only, the capture sees none, and every eager
/// load is reported as "never read".
#[tokio::test]
async fn a_read_under_strict_loading_counts_for_the_enclosing_capture() {
    with_library(|db, _, _| async move {
        let work = orm_sqlx::strict_loading(async {
            let books = Book::objects()
                .select_related(|b| b.author())
                .into_vec(&db)
                .await?;
            let names: Vec<String> = books
                .iter()
                .map(|b| b.author.get().map(|a| a.name.clone()))
                .collect::<Result<_, _>>()?;
            Ok::<_, Error>(names)
        });
        let (names, q) = capture_queries(work).await;
        assert_eq!(names.unwrap().len(), 3);
        assert_eq!(q.len(), 1);
        let f = analyze(&q);
        assert!(
            f.unnecessary.is_empty(),
            "the authors were read, yet: {:#?}",
            f.unnecessary
        );
    })
    .await;
}

/// Printing a book with `{:?}` prints its loaded author (`ForeignKey`'s `Debug` shows the
/// loaded object): the JOIN was used, as serialising it is (which does count as a read).
/// `Debug` does not note the read, so `analyze` tells the user to remove a
/// `select_related` whose rows were just printed.
#[tokio::test]
async fn debug_printing_a_loaded_relation_is_a_read() {
    with_library(|db, _, _| async move {
        let (printed, q) = capture_queries(async {
            let books = Book::objects()
                .order_by(|b| b.id.asc())
                .select_related(|b| b.author())
                .into_vec(&db)
                .await
                .unwrap();
            format!("{:?}", books[0])
        })
        .await;
        assert!(printed.contains("Alice"), "{printed}");
        let f = analyze(&q);
        assert!(
            f.unnecessary.is_empty(),
            "the author was printed, yet: {:#?}",
            f.unnecessary
        );
    })
    .await;
}

/// A custom prefetch queryset with `select_related` (Django's `Prefetch(queryset=
/// Book.objects.select_related("publisher"))`) JOINs the publishers into the prefetch
/// query. If they are never read that JOIN is as unnecessary as one on the main query,
/// but the prefetch statement is labelled only with the prefetch, so it is never found.
#[tokio::test]
async fn an_unread_select_related_inside_a_prefetch_queryset_is_found() {
    with_library(|db, _, _| async move {
        let (n, q) = capture_queries(async {
            let authors = Author::objects()
                .order_by(|a| a.id.asc())
                .prefetch(
                    |a| a.books(),
                    Book::objects().select_related(|b| b.publisher()),
                )
                .into_vec(&db)
                .await
                .unwrap();
            // The books are read; their publishers never are.
            authors
                .iter()
                .map(|a| a.books.all().unwrap().len())
                .sum::<usize>()
        })
        .await;
        assert_eq!(n, 3);
        assert_eq!(q.len(), 2, "{q:#?}");
        let f = analyze(&q);
        assert!(
            f.unnecessary.iter().any(|u| u.relation == "Book.publisher"),
            "the publishers were JOINed and never read; loads {:?}; findings {:#?}",
            q.iter().map(|s| &s.loads).collect::<Vec<_>>(),
            f.unnecessary
        );
    })
    .await;
}

/// `RelationLoad::path` is documented as "the hops from the evaluated model to the loaded
/// one" and `closure()` as "the path as the queryset method takes it, from the evaluated
/// model", which the unnecessary-load finding prints as the fix. For a nested prefetch
/// level (`Author … prefetch_related(|a| a.books().tags())`) the load is labelled with
/// one hop, `Book.tags`, so the finding tells the user to remove
/// `prefetch_related(|b| b.tags())`, a call that is nowhere in their code (on an Author
/// queryset, `b` is not even the model). A nested select_related gets the full path.
#[tokio::test]
async fn a_nested_prefetch_level_is_named_by_its_path_from_the_evaluated_model() {
    with_library(|db, _, _| async move {
        let (n, q) = capture_queries(async {
            let authors = Author::objects()
                .order_by(|a| a.id.asc())
                .prefetch_related(|a| a.books().tags())
                .into_vec(&db)
                .await
                .unwrap();
            // The books are read, their tags never are.
            authors
                .iter()
                .map(|a| a.books.all().unwrap().len())
                .sum::<usize>()
        })
        .await;
        assert_eq!(n, 3);
        assert_eq!(q.len(), 3, "{q:#?}");
        let f = analyze(&q);
        assert_eq!(f.unnecessary.len(), 1, "{f:#?}");
        assert_eq!(
            f.unnecessary[0].fix, "prefetch_related(|a| a.books().tags())",
            "{f:#?}"
        );
    })
    .await;
}

/// `tokio::join!` takes `IntoFuture`s: joining two awaited querysets (the default
/// database) is the natural way to run two reads at once. tokio calls `into_future` in
/// its own `maybe_done` (tokio/src/future/maybe_done.rs), so `QuerySet::into_future`'s
/// `#[track_caller]` sees tokio's line and reports it as the origin: neither the user's
/// line nor "no origin", but a line inside a dependency (Django's toolbar hides library
/// frames as it hides its own).
#[tokio::test]
async fn joined_querysets_do_not_report_a_line_inside_tokio() {
    orm_tests::on_each_backend(|db, _| async move {
        db.create_tables::<(Tag, orm_tests::library::Country, Author)>()
            .await
            .unwrap();
        db.set_default();
        let (_, q) = capture_queries(async {
            let (tags, authors) = tokio::join!(Tag::objects(), Author::objects());
            (tags.unwrap(), authors.unwrap())
        })
        .await;
        assert_eq!(q.len(), 2);
        for s in &q {
            if let Some(at) = s.origin {
                assert_eq!(at.file(), file!(), "origin of {:?}: {at}", s.sql);
            }
        }
    })
    .await;
}

/// A stream is lazy: nothing is sent until it is polled, so building `iterator()` and
/// consuming it inside a capture is a capture of its statement (the origin is right).
/// But the `select_related` loads are decided when the stream is built, while nothing
/// observes yet (`observe::selected` checks `observing()` at construction), so the
/// statement carries no loads and an unread JOIN is never reported.
#[tokio::test]
async fn an_iterator_built_before_the_capture_still_labels_its_joins() {
    with_library(|db, _, _| async move {
        use futures_util::TryStreamExt;
        let qs = Book::objects()
            .order_by(|b| b.id.asc())
            .select_related(|b| b.author());
        let stream = qs.iterator(&db, 10);
        let (rows, q) = capture_queries(stream.try_collect::<Vec<_>>()).await;
        assert_eq!(rows.unwrap().len(), 3);
        assert_eq!(q.len(), 1);
        assert!(q[0].origin.is_some(), "{:?}", q[0]);
        assert_eq!(q[0].loads.len(), 1, "the JOIN of Book.author: {:?}", q[0]);
        // The authors were never read.
        assert_eq!(analyze(&q).unnecessary.len(), 1, "{:?}", analyze(&q));
    })
    .await;
}

/// Instances the application made itself (a struct literal with `ForeignKey::new`, then
/// `bulk_create`; likewise `Default`, serde's `Deserialize`, `ForeignKey::to`) carry no
/// relation meta, so loading each one's author in a loop is an N+1 the observer never
/// sees: the statements are not labelled `Book.author (lazy)`, `analyze` reports
/// nothing, and `strict_loading` lets every load through. The relation is known
/// statically (the field of `Book`), only the runtime meta is missing.
#[tokio::test]
async fn lazy_loads_on_created_instances_are_an_n_plus_one_too() {
    with_library(|db, _, lib| async move {
        let mut books: Vec<Book> = (0..3)
            .map(|i| Book {
                id: 0,
                title: format!("new {i}"),
                pages: 10,
                author: orm_sqlx::core::relation::ForeignKey::new(
                    [lib.alice.id, lib.bob.id, lib.carol.id][i],
                ),
                ..Default::default()
            })
            .collect();
        Book::objects().bulk_create(&mut books, &db).await.unwrap();
        let mut copies = books.clone();
        let (r, q) = capture_queries(async {
            for b in &mut books {
                b.author.load(&db).await?;
            }
            Ok::<_, Error>(())
        })
        .await;
        assert_eq!(q.len(), 3, "{q:#?}");
        let f = analyze(&q);
        let strict = orm_sqlx::strict_loading(async {
            for b in &mut copies {
                b.author.load(&db).await?;
            }
            Ok::<_, Error>(())
        })
        .await;
        assert!(r.is_ok());
        assert_eq!(
            (f.n_plus_one.len(), strict.is_err()),
            (1, true),
            "three lazy loads of Book.author from one line: loads {:?}, result {r:?}",
            q.iter().map(|s| &s.loads).collect::<Vec<_>>()
        );
    })
    .await;
}

/// The reverse-relation N+1, Django's `for a in authors: a.books.all()` (which `nplusone`
/// reports, and Rails' `strict_loading` refuses for `author.books`): here the related
/// manager `a.books()` is a queryset built from the relation (`QuerySet::__related(rel,
/// pk)`), so the relation is known, but its statements are not labelled as loads of
/// `Author.books`: `analyze` finds only "similar" statements, no N+1 and no fix
/// (`prefetch_related(|a| a.books())`), and `strict_loading` lets every one through.
#[tokio::test]
async fn a_related_manager_queried_per_row_is_an_n_plus_one() {
    with_library(|db, _, _| async move {
        let per_author = |strict: bool| {
            let db = db.clone();
            async move {
                let work = async {
                    let authors = Author::objects()
                        .order_by(|a| a.id.asc())
                        .into_vec(&db)
                        .await?;
                    let mut n = 0;
                    for a in &authors {
                        n += a.books().into_vec(&db).await?.len();
                    }
                    Ok::<_, Error>(n)
                };
                if strict {
                    capture_queries(orm_sqlx::strict_loading(work)).await
                } else {
                    capture_queries(work).await
                }
            }
        };
        let (n, q) = per_author(false).await;
        assert_eq!(n.unwrap(), 3);
        assert_eq!(q.len(), 4, "1 + one per author: {q:#?}");
        let f = analyze(&q);
        let (strict, sq) = per_author(true).await;
        assert_eq!(
            (f.n_plus_one.len(), strict.is_err(), sq.len()),
            (1, true, 2),
            "Author.books queried once per author: findings {f:#?}, result {strict:?}"
        );
        assert_eq!(f.n_plus_one[0].fix, "prefetch_related(|a| a.books())");
    })
    .await;
}

/// A subscriber that enables every span (what an OpenTelemetry exporter at DEBUG does).
struct EverySpan;

impl tracing::Subscriber for EverySpan {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// `db.collection.name` is worked out for every statement while its span is enabled;
/// `collection_name` tests `sql[..7]` for `UPDATE `, which panics when byte 7 falls
/// inside a character: raw SQL opening with a comment in Japanese (or any text whose
/// 7th byte is inside a multi-byte character) makes the ORM panic as soon as tracing is
/// on, instead of running the statement.
#[tokio::test]
async fn a_statement_opening_with_non_ascii_text_runs_while_traced() {
    orm_tests::on_each_backend(|db, backend| async move {
        let _on = tracing::subscriber::set_default(EverySpan);
        let sql = match backend {
            orm_tests::Backend::Postgres => "-- 日本\nSELECT CAST(1 AS BIGINT)",
            orm_tests::Backend::Mysql => "-- 日本\nSELECT CAST(1 AS SIGNED)",
            orm_tests::Backend::Sqlite => "-- 日本\nSELECT 1",
        };
        let run = std::panic::AssertUnwindSafe(RawQuery::<i64>::new(sql, ()).into_vec(&db));
        let out = futures_util::FutureExt::catch_unwind(run).await;
        match out {
            Ok(rows) => assert_eq!(rows.unwrap(), [1]),
            Err(panic) => panic!(
                "running {sql:?} with tracing on panicked: {:?}",
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            ),
        }
    })
    .await;
}
