//! A small bookstore on embedded SQLite, walking through Django's QuerySet laziness and
//! caching the way the Django articles do: each step prints the SQL it sent and how many
//! queries it cost.
//!
//! Run it with `cargo run -p examples --bin bookstore` (no setup: the database lives in
//! memory).

use futures_util::TryStreamExt;
use orm_sqlx::CapturedQuery;
use orm_sqlx::prelude::*;

#[derive(Model, Debug, Clone)]
#[orm(table = "authors")]
pub struct Author {
    pub id: i64,
    pub name: String,
    pub country: Option<String>,
}

#[derive(Model, Debug, Clone)]
#[orm(table = "books")]
pub struct Book {
    pub id: i64,
    pub title: String,
    pub pages: i32,
    pub author_id: i64,
    pub rating: Option<f64>,
}

/// Print a step's title, then every statement it sent and the count.
fn report(title: &str, queries: &[CapturedQuery]) {
    println!("\n== {title}");
    for q in queries {
        println!("   SQL: {}", q.sql);
    }
    println!("   queries: {}", queries.len());
}

fn book(title: &str, pages: i32, author_id: i64, rating: Option<f64>) -> Book {
    Book {
        id: 0,
        title: title.into(),
        pages,
        author_id,
        rating,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let db = Db::connect("sqlite::memory:").await?;
    db.create_tables::<(Author, Book)>().await?;

    let ((), q) = capture_queries(async {
        let mut authors = vec![
            Author {
                id: 0,
                name: "Ursula K. Le Guin".into(),
                country: Some("US".into()),
            },
            Author {
                id: 0,
                name: "Terry Pratchett".into(),
                country: Some("UK".into()),
            },
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
    let (e, q) = capture_queries(Book::objects().filter(|b| b.author_id.eq(1)).get(&db)).await;
    report("9b. get() with several matches", &q);
    println!("   error: {}", e.unwrap_err());
    let (e, q) = capture_queries(by_title.slice(0..2).filter(|b| b.pages.gt(1)).count(&db)).await;
    report("9c. filtering a slice is refused before any query", &q);
    println!("   error: {}", e.unwrap_err());
    Ok(())
}
