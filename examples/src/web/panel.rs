//! Where the app meets the ORM's per-request query capture and its debug panel.

use axum::Router;

/// This request's page in the SQL debug panel (e.g. `/__orm/17`), a request extension
/// when the panel is on. Pages link to it from their footer.
///
/// A stand-in until `orm_sqlx::web` (feature `web`) provides the layer and this type.
#[derive(Clone, Debug)]
pub struct PanelLink(pub String);

/// `pages` with the query layer: per-request capture, `Server-Timing` and
/// `X-Query-Count` headers, and with `panel` the debug panel at [`super::PANEL_PATH`].
///
/// A stand-in that adds nothing until `orm_sqlx::web` is merged.
pub(crate) fn with_query_layer(pages: Router, panel: bool) -> Router {
    let _ = panel;
    pages
}
