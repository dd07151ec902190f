// The column options' rules, each reported where it is broken.
use orm_sqlx::prelude::*;

#[derive(Model)]
#[orm(unique_together(author, nope), index(title))]
pub struct Book {
    #[orm(unique)]
    pub id: i64,
    #[orm(unique, index)]
    pub title: String,
    #[orm(index)]
    pub author: ForeignKey<Author>,
    #[orm(max_digits = 5)]
    pub price: f64,
    #[orm(auto_now, default = 1)]
    pub stamp: i64,
    #[orm(auto_now, auto_now_add)]
    pub stamp2: i64,
    #[orm(max_length = 0)]
    pub code: String,
    #[orm(max_digits = 4, decimal_places = 6)]
    pub ratio: f64,
}

#[derive(Model)]
pub struct Author {
    pub id: i64,
    #[orm(reverse(Book::author), unique)]
    pub books: Reverse<Book>,
}

fn main() {}
