// `max_digits`/`decimal_places` bound a decimal; on an `f64` it is a compile error.
use orm_sqlx::prelude::*;

#[derive(Model)]
pub struct Product {
    pub id: i64,
    #[orm(max_digits = 5, decimal_places = 2)]
    pub price: f64,
}

fn main() {}
