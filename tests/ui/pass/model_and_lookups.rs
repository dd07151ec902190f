// The shapes the compile-fail cases break, written correctly: they must compile.
use orm_sqlx::prelude::*;

#[derive(Model, Debug, Clone)]
#[orm(table = "books")]
struct Book {
    id: i64,
    #[orm(column = "book_title")]
    title: String,
    pages: i32,
    rating: Option<f64>,
}

#[derive(Model, Debug, Clone)]
struct Isbn {
    #[orm(primary_key)]
    isbn: String,
    title: Option<String>,
}

fn main() {
    let _ = Book::objects()
        .filter(|b| b.title.icontains("rust") & b.pages.gt(100) & b.rating.eq(None))
        .exclude(|b| b.pages.gt(b.pages * 2) | b.title.eq(String::from("x")))
        .order_by(|b| [b.pages.desc(), b.title.asc()])
        .values(|b| (b.id, b.title));
    let _ = Isbn::objects().filter(|i| i.isbn.startswith("978") & i.title.eq("x"));
    assert_eq!(<Book as Model>::META.table, "books");
}
