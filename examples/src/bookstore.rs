//! A small bookstore on embedded SQLite, walking through Django's QuerySet laziness and
//! caching the way the Django articles do: each step prints the SQL it sent and how many
//! queries it cost. The last chapter is the N+1 problem (a query per row to read its
//! author) and its two fixes, `select_related` (a JOIN) and `prefetch_related` (one more
//! query per level).
//!
//! Run it with `cargo run -p examples --bin bookstore` (no setup: the database lives in
//! memory). The models are in `models.rs`, shared with the `manage` binary, which
//! migrates a real database: `cargo run -p examples --bin manage -- migrate`.

use futures_util::TryStreamExt;
use orm_sqlx::CapturedQuery;
use orm_sqlx::prelude::*;

#[path = "models.rs"]
mod models;
use models::{Author, Book, Tag};

/// Print a step's title, then every statement it sent and the count.
fn report(title: &str, queries: &[CapturedQuery]) {
    println!("\n== {title}");
    for q in queries {
        println!("   SQL: {}", q.sql);
    }
    println!("   queries: {}", queries.len());
}

fn author(name: &str, country: &str) -> Author {
    Author {
        id: 0,
        name: name.into(),
        country: Some(country.into()),
        books: Reverse::default(),
    }
}

fn book(title: &str, pages: i32, author_id: i64, rating: Option<f64>) -> Book {
    Book {
        id: 0,
        title: title.into(),
        pages,
        author: ForeignKey::new(author_id),
        rating,
        tags: ManyToMany::default(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let db = Db::connect("sqlite::memory:").await?;
    db.create_tables::<models::Models>().await?;

    let ((), q) = capture_queries(async {
        let mut authors = vec![
            author("Ursula K. Le Guin", "US"),
            author("Terry Pratchett", "UK"),
        ];
        Author::objects()
            .bulk_create(&mut authors, &db)
            .await
            .unwrap();
        let (ursula, terry) = (authors[0].id, authors[1].id);
        let mut books = vec![
            book("A Wizard of Earthsea", 183, ursula, Some(4.5)),
            book("The Dispossessed", 387, ursula, Some(4.7)),
            book("The Left Hand of Darkness", 304, ursula, None),
            book("Guards! Guards!", 416, terry, Some(4.6)),
            book("Small Gods", 384, terry, Some(4.8)),
        ];
        Book::objects().bulk_create(&mut books, &db).await.unwrap();
    })
    .await;
    report(
        "0. Setup: two authors and five books, one INSERT per table",
        &q,
    );

    // 1. Laziness: building a chain and showing its SQL sends nothing.
    let (long, q) = capture_queries(async {
        let long = Book::objects()
            .filter(|b| b.pages.gte(300) & !b.title.icontains("darkness"))
            .order_by(|b| [b.pages.desc(), b.title.asc()]);
        println!(
            "\n   the chain's SQL, printed without running it:\n   {}",
            long.sql()
        );
        long
    })
    .await;
    report(
        "1. Building a chain (filter, exclude, order_by) runs nothing",
        &q,
    );

    // 2. The first full evaluation runs one SELECT and fills the queryset's cache.
    let (titles, q) = capture_queries(async {
        let rows = long.fetch(&db).await.unwrap();
        rows.iter().map(|b| b.title.clone()).collect::<Vec<_>>()
    })
    .await;
    report(
        "2. First evaluation: one SELECT, rows cached in the queryset",
        &q,
    );
    println!("   rows: {titles:?}");

    // 3. Evaluating the same queryset again reads the cache.
    let (n, q) = capture_queries(async { long.fetch(&db).await.map(|r| r.len()) }).await;
    report("3. Evaluating it again answers from the cache", &q);
    println!("   rows: {}", n?);

    // 4. count() vs len(): count() asks the database unless the queryset is evaluated.
    let fresh = Book::objects().filter(|b| b.rating.is_null(false));
    let (n, q) = capture_queries(fresh.count(&db)).await;
    report(
        "4a. count() on an unevaluated queryset: SELECT COUNT(*), nothing cached",
        &q,
    );
    println!("   count: {}", n?);
    let (n, q) = capture_queries(fresh.len(&db)).await;
    report(
        "4b. len() evaluates the whole queryset and caches the rows",
        &q,
    );
    println!("   len: {}", n?);
    let (n, q) = capture_queries(fresh.count(&db)).await;
    report("4c. count() after that is the cached length", &q);
    println!("   count: {}", n?);

    // 5. exists(): LIMIT 1 until evaluated.
    let (e, q) = capture_queries(Book::objects().filter(|b| b.pages.gt(400)).exists(&db)).await;
    report(
        "5a. exists() on an unevaluated queryset: SELECT 1 … LIMIT 1",
        &q,
    );
    println!("   exists: {}", e?);
    let (e, q) = capture_queries(long.exists(&db)).await;
    report("5b. exists() on an evaluated queryset reads the cache", &q);
    println!("   exists: {}", e?);

    // 6. Indexing vs slicing.
    let by_title = Book::objects().order_by(|b| b.title.asc());
    let (b, q) = capture_queries(async {
        let first = by_title.get_index(1, &db).await?;
        let again = by_title.get_index(1, &db).await?;
        Ok::<_, Error>((first.title, again.title))
    })
    .await;
    report(
        "6a. get_index(1) twice on an unevaluated queryset: LIMIT 1 OFFSET 1 each time",
        &q,
    );
    println!("   rows: {:?}", b?);
    let (page, q) = capture_queries(async { by_title.slice(0..2) }).await;
    report("6b. slice(0..2) is lazy: it only adds LIMIT/OFFSET", &q);
    let (rows, q) = capture_queries(async {
        page.fetch(&db)
            .await
            .map(|r| r.iter().map(|b| b.title.clone()).collect::<Vec<_>>())
    })
    .await;
    report("6c. evaluating the slice runs it", &q);
    println!("   rows: {:?}", rows?);

    // 7. iterator() streams and never touches the cache; fetch() fills it.
    let (n, q) = capture_queries(async {
        let mut rows = by_title.iterator(&db, 2);
        let mut n = 0;
        while let Some(_book) = rows.try_next().await? {
            n += 1;
        }
        Ok::<_, Error>(n)
    })
    .await;
    report(
        "7a. iterator(chunk 2): one streamed SELECT, cache untouched",
        &q,
    );
    println!(
        "   streamed {} rows; cache filled: {}",
        n?,
        by_title.is_evaluated()
    );
    let (_, q) = capture_queries(by_title.fetch(&db)).await;
    report(
        "7b. fetch() runs the query once more and fills the cache",
        &q,
    );
    let (_, q) =
        capture_queries(async { by_title.iterator(&db, 2).try_collect::<Vec<Book>>().await }).await;
    report(
        "7c. iterator() again: it never reads the cache, so it queries",
        &q,
    );

    // 8. Stale data, and refreshing it.
    let (n, q) = capture_queries(
        Book::objects()
            .filter(|b| b.title.eq("Small Gods"))
            .update(|b| b.pages.set(b.pages + 1), &db),
    )
    .await;
    report("8a. update() with an F-expression: pages = pages + 1", &q);
    println!("   rows updated: {}", n?);
    let (cached, q) = capture_queries(async {
        by_title.fetch(&db).await.map(|rows| {
            rows.iter()
                .find(|b| b.title == "Small Gods")
                .map(|b| b.pages)
        })
    })
    .await;
    report(
        "8b. the evaluated queryset still holds the old row (stale by design)",
        &q,
    );
    println!("   cached pages of Small Gods: {:?}", cached?);
    let mut small_gods = by_title.get_index(2, &db).await?; // from the cache: no query
    let (r, q) = capture_queries(small_gods.refresh_from_db(&db)).await;
    r?;
    report("8c. refresh_from_db() reloads one instance", &q);
    println!(
        "   fresh pages of {}: {}",
        small_gods.title, small_gods.pages
    );
    let (rows, q) = capture_queries(async {
        let again = by_title.all();
        again.len(&db).await
    })
    .await;
    report(
        "8d. all() makes a new queryset with an empty cache: it queries",
        &q,
    );
    println!("   rows: {}", rows?);

    // 9. Errors are typed and say what happened.
    let (e, q) = capture_queries(Book::objects().filter(|b| b.title.eq("Mort")).get(&db)).await;
    report("9a. get() with no match", &q);
    println!("   error: {}", e.unwrap_err());
    let (e, q) = capture_queries(Book::objects().filter(|b| b.author.eq(1)).get(&db)).await;
    report("9b. get() with several matches", &q);
    println!("   error: {}", e.unwrap_err());
    let (e, q) = capture_queries(by_title.slice(0..2).filter(|b| b.pages.gt(1)).count(&db)).await;
    report("9c. filtering a slice is refused before any query", &q);
    println!("   error: {}", e.unwrap_err());

    // 9d. Rows handed over, not lent: a helper returns the rows of a temporary queryset,
    // on whatever executor it is given (the pool here; a transaction works the same).
    let (rows, q) = capture_queries(long_books(&db)).await;
    report(
        "9d. into_vec() hands the rows of a temporary queryset over",
        &q,
    );
    println!("   {} long books, owned: Vec<Book>", rows?.len());

    // 9e. Django's only()/defer(): a partial model names the fields a page needs (checked
    // against Book at compile time) and only those columns are selected, the author's
    // name through one JOIN.
    let cards = Book::objects()
        .filter(|b| b.pages.gte(300))
        .order_by(|b| b.title.asc())
        .values_as::<BookCard>();
    let (rows, q) = capture_queries(cards.into_vec(&db)).await;
    report(
        "9e. values_as::<BookCard>() selects only the partial model's columns",
        &q,
    );
    for c in rows? {
        println!("   {} ({} pages) by {}", c.title, c.pages, c.author_name);
    }

    // 9f. Raw SQL that still counts: one `?` per value on every backend (translated to $1
    // on PostgreSQL; the `?` inside the string literal is text), values bound, columns
    // matched to Book's fields by name; and any SELECT into a tuple.
    let (rows, q) = capture_queries(
        Book::objects()
            .raw(
                "SELECT * FROM books WHERE title <> 'Who?' AND pages >= ? ORDER BY pages DESC",
                [380],
            )
            .into_vec(&db),
    )
    .await;
    report("9f. raw() reads Book rows from SQL written by hand", &q);
    for b in rows? {
        println!("   {} ({} pages)", b.title, b.pages);
    }
    let (rows, q) = capture_queries(
        RawQuery::<(String, i64)>::new(
            "SELECT a.name, COUNT(b.id) FROM authors a LEFT JOIN books b ON b.author_id = a.id \
             GROUP BY a.name ORDER BY a.name",
            (),
        )
        .into_vec(&db),
    )
    .await;
    report(
        "9f. RawQuery::<(String, i64)> reads any SELECT into tuples",
        &q,
    );
    for (name, n) in rows? {
        println!("   {name}: {n} book(s)");
    }

    // 9g. Prefetching into rows already held (Django's prefetch_related_objects): the
    // authors came from a helper; their books come in one more query, for all of them.
    let mut authors = Author::objects()
        .order_by(|a| a.name.asc())
        .into_vec(&db)
        .await?;
    let (done, q) =
        capture_queries(prefetch_related_objects(&mut authors, |a| a.books(), &db)).await;
    done?;
    report(
        "9g. prefetch_related_objects(&mut authors, |a| a.books()): 1 query for all of them",
        &q,
    );
    for a in &authors {
        println!("   {}: {} books", a.name, a.books.count()?);
    }
    let (done, q) =
        capture_queries(prefetch_related_objects(&mut authors, |a| a.books(), &db)).await;
    done?;
    report(
        "9g. again: every author has its books already, so nothing is fetched",
        &q,
    );

    the_n_plus_one_problem(&db).await?;
    counting_in_the_database(&db).await
}

/// Chapter 11: the "books per author" page, computed by the database in one query
/// (`annotate`), a condition on a count (`HAVING`), totals (`aggregate`) and a subquery.
async fn counting_in_the_database(db: &Db) -> Result<()> {
    println!("\n\n######## 11. Counting in the database: annotate, aggregate, subqueries");

    // Django: Author.objects.annotate(n=Count("books")).order_by("-n", "name")
    let per_author = Author::objects()
        .annotate(|a| (a.books().count(), a.books().pages.avg()))
        .order_by(|a| [a.books().count().desc(), a.name.asc()]);
    let (rows, q) = capture_queries(per_author.fetch(db)).await;
    report(
        "11a. books per author: LEFT JOIN + GROUP BY, one query (authors without books count 0)",
        &q,
    );
    for (author, (n, avg)) in rows? {
        let avg = avg.map_or("-".to_owned(), |p| format!("{p:.0}"));
        println!("   {:<22} {n} books, {avg} pages on average", author.name);
    }

    // Django: .annotate(n=Count("books")).filter(n__gte=2)
    let (rows, q) = capture_queries(
        Author::objects()
            .filter(|a| a.books().count().gte(2))
            .values(|a| a.name)
            .into_vec(db),
    )
    .await;
    report("11b. a condition on a count is HAVING", &q);
    println!("   authors with two books or more: {:?}", rows?);

    // Django: Book.objects.aggregate(Count("id"), Sum("pages"), Avg("rating"))
    let (totals, q) = capture_queries(
        Book::objects().aggregate(|b| (b.id.count(), b.pages.sum(), b.rating.avg()), db),
    )
    .await;
    report("11c. aggregate(): one row of totals, always one query", &q);
    let (n, pages, rating) = totals?;
    println!("   {n} books, {pages:?} pages, average rating {rating:?}");

    // Django: Book.objects.values("tags__name").annotate(n=Count("id")).filter(n__gt=1)
    let (rows, q) = capture_queries(
        Book::objects()
            .values(|b| (b.tags().name, b.id.count()))
            .filter(|b| b.id.count().gt(1))
            .order_by(|b| b.tags().name.asc())
            .into_vec(db),
    )
    .await;
    report(
        "11d. tags on more than one book: grouped by the projected field",
        &q,
    );
    println!("   {:?}", rows?);

    // Django: Author.objects.annotate(longest=Subquery(
    //     Book.objects.filter(author=OuterRef("pk")).order_by("-pages").values("title")[:1]))
    let (rows, q) = capture_queries(
        Author::objects()
            .annotate(|a| {
                subquery(
                    Book::objects()
                        .filter(|b| b.author.eq(a.id.outer()))
                        .order_by(|b| b.pages.desc())
                        .values(|b| b.title)
                        .slice(..1),
                )
            })
            .order_by(|a| a.name.asc())
            .into_vec(db),
    )
    .await;
    report(
        "11e. each author's longest book: a subquery reading the outer row",
        &q,
    );
    for (author, longest) in rows? {
        println!(
            "   {:<22} {}",
            author.name,
            longest.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

/// A partial model: some of Book's fields, one of them through the author relation.
#[derive(Partial, Debug)]
#[orm(model = Book)]
pub struct BookCard {
    pub title: String,
    pub pages: i32,
    #[orm(path = "author.name")]
    pub author_name: String,
}

/// What a handler's helper looks like: it returns owned rows, whatever the executor.
async fn long_books<E: Executor>(ex: E) -> Result<Vec<Book>> {
    Book::objects()
        .filter(|b| b.pages.gte(300))
        .order_by(|b| b.title.asc())
        .into_vec(ex)
        .await
}

/// Chapter 10: reading each book's author in a loop costs a query per book (N+1);
/// `select_related` joins instead (1 query), `prefetch_related` adds one query per level.
async fn the_n_plus_one_problem(db: &Db) -> Result<()> {
    println!("\n\n######## 10. The N+1 problem and its two fixes");

    let (n, q) = capture_queries(async {
        let mut tags = vec![tag("fantasy"), tag("satire"), tag("classic")];
        Tag::objects().bulk_create(&mut tags, db).await?;
        let (fantasy, satire, classic) = (&tags[0], &tags[1], &tags[2]);
        let mut books = Book::objects()
            .filter(|b| b.title.is_in(["A Wizard of Earthsea", "Small Gods"]))
            .fetch(db)
            .await?
            .to_vec();
        for b in &mut books {
            let tags: &[&Tag] = if b.title == "Small Gods" {
                &[fantasy, satire]
            } else {
                &[fantasy, classic]
            };
            b.add_related(|b| b.tags(), tags, db).await?;
        }
        Ok::<_, Error>(books.len())
    })
    .await;
    let n = n?;
    report(
        &format!(
            "10a. Setup: three tags (one INSERT), two books to tag (one SELECT), \
             add_related (one INSERT per book): 2 + {n} queries"
        ),
        &q,
    );

    // The problem: the author is not loaded, and reading it will not query behind your back.
    let (r, q) = capture_queries(async {
        let books = Book::objects()
            .order_by(|b| b.title.asc())
            .fetch(db)
            .await?
            .to_vec();
        let read = books[0].author.get().map(|a| a.name.clone()); // no query
        Ok::<_, Error>((books, read))
    })
    .await;
    let (mut books, read) = r?;
    report(
        "10b. One SELECT for the books; reading b.author then is an error, not a hidden query",
        &q,
    );
    println!(
        "   key: {} (free), error: {}",
        books[0].author.key(),
        read.unwrap_err()
    );

    let (pairs, q) = capture_queries(async {
        let mut books = Book::objects()
            .order_by(|b| b.title.asc())
            .fetch(db)
            .await?
            .to_vec();
        let mut pairs = Vec::new();
        for b in &mut books {
            let author = b.author.load(db).await?; // one SELECT per book
            pairs.push((b.title.clone(), author.name.clone()));
        }
        Ok::<_, Error>(pairs)
    })
    .await;
    let pairs = pairs?;
    report(
        &format!(
            "10c. N+1: one SELECT for the books, then b.author.load() per book: 1 + {} queries",
            pairs.len()
        ),
        &q,
    );
    print_pairs(&pairs);
    let (names, q) = capture_queries(async {
        let first = books[0].author.load(db).await?.name.clone(); // one SELECT
        let again = books[0].author.load(db).await?.name.clone(); // cached: no query
        Ok::<_, Error>((first, again))
    })
    .await;
    report(
        "10d. load() twice on one book: 1 query, then it is cached on the instance",
        &q,
    );
    println!("   {:?}", names?);

    // Fix 1: follow the foreign key in the same query, with a JOIN.
    let joined = Book::objects()
        .select_related(|b| b.author())
        .order_by(|b| b.title.asc());
    let (pairs, q) = capture_queries(async {
        let books = joined.fetch(db).await?;
        books
            .iter()
            .map(|b| Ok((b.title.clone(), b.author.get()?.name.clone()))) // no query
            .collect::<Result<Vec<_>>>()
    })
    .await;
    report(
        "10e. select_related(|b| b.author()): one SELECT with an INNER JOIN, 1 query",
        &q,
    );
    print_pairs(&pairs?);

    // Fix 2: one more query per relation, with the parents' keys in an IN list. This also
    // works backwards (author → books) and for many-to-many, where a JOIN would repeat rows.
    let authors = Author::objects()
        .prefetch_related(|a| a.books())
        .order_by(|a| a.name.asc());
    let (shelves, q) = capture_queries(async {
        let authors = authors.fetch(db).await?;
        authors
            .iter()
            .map(|a| {
                let titles = a.books.all()?.iter().map(|b| b.title.clone()).collect();
                Ok((a.name.clone(), titles)) // a.books.all() is no query
            })
            .collect::<Result<Vec<(String, Vec<String>)>>>()
    })
    .await;
    report(
        "10f. prefetch_related(|a| a.books()) from the authors: authors, then their books, 2 queries",
        &q,
    );
    for (name, titles) in shelves? {
        println!("   {name}: {titles:?}");
    }

    // Nested: every level is one more query, however many rows each level has.
    let authors = Author::objects()
        .prefetch_related(|a| a.books().tags())
        .order_by(|a| a.name.asc());
    let (shelves, q) = capture_queries(async {
        let authors = authors.fetch(db).await?;
        let mut out = Vec::new();
        for a in authors {
            for b in a.books.all()? {
                let tags: Vec<&str> = b.tags.all()?.iter().map(|t| t.name.as_str()).collect();
                out.push(format!("{} / {} / {tags:?}", a.name, b.title));
            }
        }
        Ok::<_, Error>(out)
    })
    .await;
    report(
        "10g. prefetch_related(|a| a.books().tags()): authors, books, tags, 3 queries",
        &q,
    );
    for line in shelves? {
        println!("   {line}");
    }
    Ok(())
}

fn tag(name: &str) -> Tag {
    Tag {
        id: 0,
        name: name.into(),
    }
}

fn print_pairs(pairs: &[(String, String)]) {
    for (title, author) in pairs {
        println!("   {title} by {author}");
    }
}
