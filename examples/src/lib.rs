//! The examples as a library: the bookstore's models and its web app, so that tests can
//! serve the app in-process (`orm-tests`' browser test does). The binaries are thin:
//! `bookstore` walks through the QuerySet API, `web` serves [`web::app`], `manage`
//! migrates a database.

pub mod models;
pub mod web;
