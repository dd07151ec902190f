//! The models of the `migrate_probe` binary (tests/src/bin/migrate_probe.rs), which
//! `tests/tests/manage_cli.rs` runs as two processes migrating one database at once.
//! Three tables, a foreign key, a unique column, an index and a join table: the initial
//! migration is several statements, so two processes racing through it would collide.

use orm_sqlx::prelude::*;

#[derive(Model, Debug, Clone)]
#[orm(table = "probe_shelves")]
pub struct Shelf {
    pub id: i64,
    #[orm(unique)]
    pub label: String,
}

#[derive(Model, Debug, Clone)]
#[orm(table = "probe_labels")]
pub struct Label {
    pub id: i64,
    pub name: String,
}

#[derive(Model, Debug, Clone)]
#[orm(table = "probe_items")]
pub struct Item {
    pub id: i64,
    #[orm(index)]
    pub name: String,
    pub shelf: ForeignKey<Shelf>,
    pub labels: ManyToMany<Label>,
}

/// The probe's models, in dependency order.
pub type Models = (Shelf, Label, Item);
