//! Where the app meets the ORM's per-request query capture and its debug panel
//! (`orm_sqlx::web`, feature `web`).

use axum::Router;
use orm_sqlx::web::QueryLayer;

/// This request's page in the SQL debug panel (e.g. `/__orm/17`), a request extension
/// when the panel is on; pages link to it from their footer.
pub use orm_sqlx::web::PanelLink;

/// `pages` behind the query layer: each request's statements captured, `Server-Timing`
/// and `X-Query-Count` on every response, and with `panel` the debug panel at
/// [`super::PANEL_PATH`] (the layer answers its pages itself) and a [`PanelLink`] in each
/// request.
pub(crate) fn with_query_layer(pages: Router, db: &orm_sqlx::Db, panel: bool) -> Router {
    // The panel's list shows the query cache's counters per table.
    let layer = QueryLayer::new().cache_stats(db);
    let layer = if panel {
        // PANEL_PATH is a valid path ("/__orm"): the error cannot happen.
        layer
            .debug_panel(super::PANEL_PATH)
            .expect("PANEL_PATH is a valid panel path")
    } else {
        layer
    };
    pages.layer(layer)
}
