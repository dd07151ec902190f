//! The models a program uses, so that `delete()` can find the keys that point at a model
//! from models it does not name (Django's app registry). `Db::create_tables` registers
//! what it creates; programs that manage their schema otherwise call `register`.

use std::sync::RwLock;

use crate::schema::model::ModelMeta;

static MODELS: RwLock<Vec<&'static ModelMeta>> = RwLock::new(Vec::new());

/// Make a model known to `delete()`'s collector. Registering twice is harmless.
pub fn register(meta: &'static ModelMeta) {
    let mut models = MODELS.write().unwrap_or_else(|e| e.into_inner());
    if !models.iter().any(|m| std::ptr::eq(*m, meta)) {
        models.push(meta);
    }
}

/// Every registered model.
pub fn registered() -> Vec<&'static ModelMeta> {
    MODELS.read().unwrap_or_else(|e| e.into_inner()).clone()
}
