// `#[derive(Choices)]` is for fieldless enums, with distinct stored values.
use orm_sqlx::prelude::*;

#[derive(Choices, Clone, Copy)]
pub enum Shape {
    Circle(f64),
    Square,
    #[orm(value = "square")]
    Box,
}

#[derive(Choices)]
pub struct NotAnEnum {
    pub x: i32,
}

fn main() {}
