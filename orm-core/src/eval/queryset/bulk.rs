//! The write helpers of issue 12.1: `create` from a manager, `save_fields` (Django's
//! `save(update_fields=…)`), `bulk_update`, and `bulk_create_with`'s options (keys not
//! read back, conflicts ignored or updated).
//!
//! Every INSERT here goes through `insert_one`/`insert_batches` (and so
//! `compiler::insert_on_conflict`); every UPDATE of one instance's row through
//! [`update_row`]: a pre-save hook (`auto_now`) has one place to go for each.

use super::*;
use crate::schema::value::SqlType;
use crate::sql::compiler::OnConflict;

/// How `insert_batches` writes its INSERTs.
#[derive(Clone, Debug)]
pub(super) struct InsertOptions {
    /// Read the generated keys back (RETURNING, or MySQL's last insert id).
    pub(super) read_keys: bool,
    pub(super) conflict: Option<OnConflict>,
}

impl Default for InsertOptions {
    fn default() -> Self {
        InsertOptions {
            read_keys: true,
            conflict: None,
        }
    }
}

impl InsertOptions {
    /// A failed INSERT's error: its field named ([`name_field`]); a conflict target that
    /// is no unique constraint (PostgreSQL's "no unique or exclusion constraint matching
    /// the ON CONFLICT specification", SQLite's "ON CONFLICT clause does not match any
    /// PRIMARY KEY or UNIQUE constraint") is `Error::InvalidInput`, naming the target.
    pub(super) fn error<M: Model>(&self, e: Error) -> Error {
        let e = name_field::<M>(e);
        match (&self.conflict, &e) {
            (Some(OnConflict::Update { target, .. }), Error::Database { source, .. })
                if {
                    let m = source.to_string();
                    m.contains("ON CONFLICT specification")
                        || m.contains("does not match any PRIMARY KEY or UNIQUE constraint")
                } =>
            {
                Error::InvalidInput(format!(
                    "bulk_create: update_conflicts' unique fields ({}) are not a unique \
                     constraint of {}: declare one on exactly these columns ({e})",
                    target.join(", "),
                    M::META.name
                ))
            }
            _ => e,
        }
    }
}

/// The options of [`QuerySet::bulk_create_with`] (Django's `bulk_create` keyword
/// arguments). Built by the closure `bulk_create_with` takes, which receives
/// `BulkCreate::default()`:
///
/// ```text
/// // Skip rows whose unique key is taken (Django's ignore_conflicts=True).
/// Tag::objects().bulk_create_with(&mut tags, |o| o.ignore_conflicts(), &db).await?;
/// // Upsert: update `pages` of the row already there (update_conflicts=True,
/// // unique_fields=["title"], update_fields=["pages"]).
/// Book::objects()
///     .bulk_create_with(&mut books, |o| o.update_conflicts(|b| b.title, |b| b.pages), &db)
///     .await?;
/// // Do not read the generated keys back: no RETURNING; the keys stay 0.
/// Book::objects().bulk_create_with(&mut books, |o| o.without_keys(), &db).await?;
/// ```
pub struct BulkCreate<M> {
    options: InsertOptions,
    /// A misuse found while building, reported before any query.
    refused: Option<String>,
    _m: PhantomData<fn() -> M>,
}

impl<M> std::fmt::Debug for BulkCreate<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkCreate")
            .field("read_keys", &self.options.read_keys)
            .field("conflict", &self.options.conflict)
            .field("refused", &self.refused)
            .finish()
    }
}

impl<M: Model> Default for BulkCreate<M> {
    /// Today's `bulk_create`: keys read back, a conflict is an error.
    fn default() -> Self {
        BulkCreate {
            options: InsertOptions::default(),
            refused: None,
            _m: PhantomData,
        }
    }
}

impl<M: Model> BulkCreate<M> {
    /// Do not read the generated keys back: no `RETURNING` (nor MySQL's last insert id);
    /// the instances' auto keys stay unset (0), so a later `save()` would insert them
    /// again. For loading rows that are not used afterwards.
    pub fn without_keys(mut self) -> Self {
        self.options.read_keys = false;
        self
    }

    /// Skip every row whose primary key or unique key is already taken (Django's
    /// `ignore_conflicts=True`); other errors (a foreign key to no row, a value too long)
    /// still fail the statement. As in Django, keys are not read back: which rows were
    /// skipped is not known, and every auto key stays unset.
    ///
    /// PostgreSQL and SQLite: `ON CONFLICT DO NOTHING`. MySQL/MariaDB: `ON DUPLICATE KEY
    /// UPDATE pk = pk` (not `INSERT IGNORE`, which also turns those other errors into
    /// warnings and stores nothing).
    pub fn ignore_conflicts(mut self) -> Self {
        if self.options.conflict.is_some() {
            self.refuse_both();
        }
        self.options.read_keys = false;
        self.options.conflict = Some(OnConflict::Ignore);
        self
    }

    /// `ignore_conflicts` and `update_conflicts` together (Django: "ignore_conflicts and
    /// update_conflicts are mutually exclusive"): refused before any query.
    fn refuse_both(&mut self) {
        self.refused.get_or_insert_with(|| {
            "bulk_create_with: ignore_conflicts and update_conflicts are mutually exclusive; \
             choose one"
                .into()
        });
    }

    /// Upsert (Django's `update_conflicts=True, unique_fields=…, update_fields=…`): a row
    /// whose `unique_fields` collide with a row already there updates that row's
    /// `update_fields` from the row proposed instead of failing.
    ///
    /// - `unique_fields` must be the columns of one unique constraint (or the primary
    ///   key): otherwise PostgreSQL and SQLite refuse the statement, reported as
    ///   [`Error::InvalidInput`]. **MySQL/MariaDB cannot name a conflict target**: `ON
    ///   DUPLICATE KEY UPDATE c = VALUES(c)` updates on a collision with *any* unique key
    ///   of the table; the fields are still required, so that code runs on every backend.
    ///   SQLite checks the target against the schema its connection last read: a unique
    ///   index created on another connection is not seen by one that has run no statement
    ///   since (the statement fails as if the index did not exist).
    /// - `update_fields` may not be empty nor hold the primary key ([`Error::InvalidInput`],
    ///   before any query); a foreign key writes its key column.
    /// - Keys are read back where the server has `RETURNING` (PostgreSQL, SQLite, MariaDB
    ///   10.5+): an instance that updated a row gets that row's key, as in Django 5. On
    ///   MySQL they stay unset.
    pub fn update_conflicts<U: Projection<M>, F: Projection<M>>(
        mut self,
        unique_fields: impl FnOnce(&M::Fields) -> U,
        update_fields: impl FnOnce(&M::Fields) -> F,
    ) -> Self {
        if self.options.conflict.is_some() {
            self.refuse_both();
        }
        let fields = M::fields();
        let columns = |terms: Vec<Term>| -> Result<Vec<&'static str>> {
            Ok(field_columns::<M>(terms, "bulk_create_with")?
                .into_iter()
                .map(|i| M::META.columns[i].column)
                .collect())
        };
        let target = columns(unique_fields(&fields).into_terms());
        let update = columns(update_fields(&fields).into_terms());
        match (target, update) {
            (Ok(target), Ok(update)) => {
                let pk = M::META.pk_column().column;
                if target.is_empty() {
                    self.refused = Some(
                        "bulk_create_with: update_conflicts needs the unique fields that \
                         decide a conflict (`|b| b.title`)"
                            .into(),
                    );
                } else if update.is_empty() {
                    self.refused = Some(
                        "bulk_create_with: update_conflicts needs at least one field to \
                         update (Django: \"Fields that will be updated when a row insertion \
                         fails on conflicts must be provided.\")"
                            .into(),
                    );
                } else if update.contains(&pk) {
                    self.refused = Some(format!(
                        "bulk_create_with: update_conflicts cannot update the primary key \
                         {}.{} (Django: \"bulk_create() cannot be used with primary keys in \
                         update_fields.\")",
                        M::META.name,
                        M::META.pk_column().field
                    ));
                }
                self.options.conflict = Some(OnConflict::Update { target, update });
            }
            (Err(e), _) | (_, Err(e)) => self.refused = Some(e.to_string()),
        }
        self
    }
}

impl<M: Model> QuerySet<M, M> {
    /// Insert `obj` and return it with its key set (Django's `objects.create(**kw)`): one
    /// INSERT (on MySQL without `RETURNING`, the key is the statement's last insert id).
    /// An auto primary key left 0 is the database's; one already set is inserted as it is.
    ///
    /// Only on the model's manager or an unfiltered queryset: Django ignores a queryset's
    /// filters and slice here, and a related manager's `create` sets the relation, which
    /// this does not do; so a filtered, sliced or related queryset is refused
    /// ([`Error::InvalidInput`], no query). Use
    /// [`create_related`](crate::ModelExt::create_related) for a related object.
    ///
    /// ```text
    /// let tag = Tag::objects().create(Tag { id: 0, name: "rust".into() }, &db).await?;
    /// assert_ne!(tag.id, 0);
    /// ```
    #[track_caller]
    pub fn create<E: Executor>(&self, mut obj: M, mut ex: E) -> impl Future<Output = Result<M>> {
        crate::eval::observe::traced(async move {
            self.check()?;
            if !self.query.filter.is_empty()
                || self.query.is_sliced()
                || self.query.through.is_some()
            {
                return Err(Error::InvalidInput(format!(
                    "create() on a filtered, sliced or related {} queryset: the row would not \
                     follow the filter (Django ignores it); call it on {}::objects(), or use \
                     create_related() for a related object",
                    M::META.name,
                    M::META.name
                )));
            }
            insert_one(&mut obj, &mut ex).await?;
            Ok(obj)
        })
    }

    /// Insert many instances with options (Django's `bulk_create(objs,
    /// ignore_conflicts=…, update_conflicts=…, unique_fields=…, update_fields=…)`):
    /// `options` receives the defaults, [`BulkCreate::default()`], and returns the ones
    /// to use. Batches, atomicity and when keys are set are as in
    /// [`bulk_create`](QuerySet::bulk_create) (which is `bulk_create_with(objs, |o| o,
    /// ex)`); see [`BulkCreate`] for what each option does to the keys. A misuse of the
    /// options is [`Error::InvalidInput`] before any query, also for an empty slice.
    ///
    /// ```text
    /// Tag::objects().bulk_create_with(&mut tags, |o| o.ignore_conflicts(), &db).await?;
    /// Book::objects()
    ///     .bulk_create_with(&mut books, |o| o.update_conflicts(|b| b.title, |b| (b.pages,)), &db)
    ///     .await?;
    /// ```
    #[track_caller]
    pub fn bulk_create_with<E: Executor>(
        &self,
        objs: &mut [M],
        options: impl FnOnce(BulkCreate<M>) -> BulkCreate<M>,
        mut ex: E,
    ) -> impl Future<Output = Result<()>> {
        crate::eval::observe::traced(async move {
            let BulkCreate {
                mut options,
                refused,
                ..
            } = options(BulkCreate::default());
            if let Some(why) = refused {
                return Err(Error::InvalidInput(why));
            }
            // An upsert's keys come back only through RETURNING (MySQL's last insert id is
            // not the updated rows').
            if options.conflict.is_some() && !ex.supports_returning() {
                options.read_keys = false;
            }
            for obj in objs.iter() {
                super::require_keys_set(obj)?;
            }
            for obj in objs.iter_mut() {
                obj.touch_auto_now(true, None);
            }
            let auto = M::META.has_auto_pk();
            let (mut unset, set): (Vec<&mut M>, Vec<&mut M>) =
                objs.iter_mut().partition(|o| auto && is_unset_pk(&**o));
            let dialect = ex.dialect();
            let statements = batch_count::<M>(set.len(), false, dialect)
                + batch_count::<M>(unset.len(), true, dialect);
            let keys = if statements <= 1 {
                insert_batches(&set, false, &options, &mut ex).await?;
                insert_batches(&unset, true, &options, &mut ex).await?
            } else {
                // Several statements: all of them or none (Django wraps bulk_create in atomic()).
                let mut atomic = ex.atomic().await?;
                insert_batches(&set, false, &options, &mut *atomic).await?;
                let keys = insert_batches(&unset, true, &options, &mut *atomic).await?;
                atomic.commit().await?;
                keys
            };
            set_keys(&mut unset, keys);
            for obj in set.into_iter().chain(unset) {
                attach_relation_metas(obj);
            }
            Ok(())
        })
    }

    /// Update the fields `fields` names of every instance in `objs`, each row to its own
    /// instance's values (Django's `bulk_update(objs, fields)`); returns how many rows
    /// matched. One `UPDATE … SET f = CASE pk WHEN … THEN … END … WHERE pk IN (…)` per
    /// batch, a batch holding `max_params / (2 × fields + 1)` instances (less what the
    /// queryset's filter binds); several batches run in one atomic block (BEGIN … COMMIT,
    /// a savepoint in a transaction), one runs alone. The queryset's filter restricts
    /// the rows updated, as in Django.
    ///
    /// - No query for an empty `objs` (after the checks below).
    /// - [`Error::InvalidInput`] before any query: no field, a field that is not a
    ///   column of the model (an expression, a related model's field), the primary key
    ///   among the fields, an instance whose auto primary key is unset (Django: "All
    ///   bulk_update() objects must have a primary key set.").
    /// - A foreign key writes its key column.
    /// - Cost: a `CASE` of n keys is n² / 2 comparisons for the server; a full batch on
    ///   PostgreSQL (3855 rows of 8 fields) takes seconds. Split large lists yourself.
    /// - **Differs**: one key several times in `objs`: the last instance wins, whatever
    ///   the batches (a row is updated once, as a loop of `save_fields` would leave it);
    ///   Django updates the first of a batch, and the last batch last.
    ///
    /// ```text
    /// b1.pages = 310;
    /// b2.pages = 160;
    /// let matched = Book::objects().bulk_update(&[b1, b2], |b| b.pages, &db).await?;
    /// assert_eq!(matched, 2);
    /// ```
    #[track_caller]
    pub fn bulk_update<P: Projection<M>, E: Executor>(
        &self,
        objs: &[M],
        fields: impl FnOnce(&M::Fields) -> P,
        mut ex: E,
    ) -> impl Future<Output = Result<u64>>
    where
        M::Pk: Hash + Eq,
    {
        crate::eval::observe::traced(async move {
            self.check()?;
            if self.query.is_sliced() {
                return Err(Error::Sliced(SlicedOp::Update));
            }
            let columns = field_columns::<M>(fields(&M::fields()).into_terms(), "bulk_update")?;
            if columns.is_empty() {
                return Err(Error::InvalidInput(
                    "bulk_update needs at least one field (Django: \"Field names must be given \
                     to bulk_update().\")"
                        .into(),
                ));
            }
            refuse_pk::<M>(&columns, "bulk_update")?;
            if objs.iter().any(|o| M::META.has_auto_pk() && is_unset_pk(o)) {
                return Err(Error::InvalidInput(format!(
                    "bulk_update: every {} must have a primary key set (one is unsaved)",
                    M::META.name
                )));
            }
            for obj in objs {
                super::require_keys_set(obj)?;
            }
            // One row a key, the last instance's values.
            let mut last: HashMap<&M::Pk, usize> = HashMap::with_capacity(objs.len());
            for (i, obj) in objs.iter().enumerate() {
                last.insert(obj.pk(), i);
            }
            let rows: Vec<_> = objs
                .iter()
                .enumerate()
                .filter(|(i, o)| last.get(o.pk()) == Some(i))
                .map(|(_, o)| {
                    let mut values = o.column_values();
                    let picked = columns
                        .iter()
                        .map(|&c| std::mem::replace(&mut values[c], Value::Null(SqlType::I64)))
                        .collect();
                    (o.pk().to_value(), picked)
                })
                .collect();
            if rows.is_empty() || self.query.empty {
                return Ok(0);
            }
            let dialect = ex.dialect();
            let filter_params = compiler::select(&self.query, dialect)?.params.len();
            let per_batch = (dialect.max_params().saturating_sub(filter_params)
                / (2 * columns.len() + 1))
                .max(1);
            let statements = rows
                .chunks(per_batch)
                .map(|batch| compiler::bulk_update(&self.query, &columns, batch.to_vec(), dialect))
                .collect::<Result<Vec<_>>>()?;
            let mut matched = 0;
            if statements.len() == 1 {
                for stmt in statements {
                    matched += ex
                        .execute(stmt)
                        .await
                        .map_err(name_field::<M>)?
                        .rows_affected;
                }
                return Ok(matched);
            }
            // Several statements: all of them or none (Django wraps bulk_update in atomic()).
            let mut atomic = ex.atomic().await?;
            for stmt in statements {
                matched += atomic
                    .execute_stmt(stmt)
                    .await
                    .map_err(name_field::<M>)?
                    .rows_affected;
            }
            atomic.commit().await?;
            Ok(matched)
        })
    }
}

/// The indices in `M::META.columns` of the fields `terms` names (repeats dropped), or
/// `Error::InvalidInput` for anything else (an expression, an aggregate, a related
/// model's field).
pub(super) fn field_columns<M: Model>(terms: Vec<Term>, what: &str) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(terms.len());
    for t in &terms {
        let index = match t {
            Term::Column(c) if c.path.is_root() => {
                M::META.columns.iter().position(|m| m.column == c.column)
            }
            _ => None,
        };
        match index {
            Some(i) if !out.contains(&i) => out.push(i),
            Some(_) => {}
            None => {
                return Err(Error::InvalidInput(format!(
                    "{what} takes fields of {} itself (`|b| (b.title, b.pages)`), not \
                     expressions or related models' fields",
                    M::META.name
                )));
            }
        }
    }
    Ok(out)
}

/// `Error::InvalidInput` if the primary key is among `columns`.
fn refuse_pk<M: Model>(columns: &[usize], what: &str) -> Result<()> {
    if columns.contains(&M::META.pk) {
        return Err(Error::InvalidInput(format!(
            "{what} cannot write the primary key {}.{}: its row is found by it",
            M::META.name,
            M::META.pk_column().field
        )));
    }
    Ok(())
}

/// `UPDATE … SET <columns> WHERE pk = <obj's key>`: the one statement that updates one
/// instance's row (`save`, `save_fields`); returns how many rows matched. `columns` are
/// indices into `M::META.columns`, at least one, not the key.
pub(super) async fn update_row<M: Model, E: Executor>(
    obj: &mut M,
    columns: &[usize],
    ex: E,
) -> Result<u64> {
    let mut values: Vec<Option<Value>> = obj.column_values().into_iter().map(Some).collect();
    let assignments: Vec<_> = columns
        .iter()
        .map(|&i| {
            let c = &M::META.columns[i];
            crate::dsl::update::Assignment::<M>::new(
                ColumnRef {
                    path: RelPath::ROOT,
                    column: c.column,
                    nullable: c.nullable,
                },
                Term::Value(values[i].take().unwrap_or(Value::Null(c.sql_type))),
            )
        })
        .collect();
    QuerySet::<M, M>::new()
        .filter_pk(obj.pk().to_value())
        .update(|_| assignments, ex)
        .await
}

/// `save_fields`: see [`ModelExt::save_fields`](crate::ModelExt::save_fields).
pub(super) async fn save_fields<M: Model, E: Executor>(
    obj: &mut M,
    terms: Vec<Term>,
    ex: E,
) -> Result<()> {
    let columns = field_columns::<M>(terms, "save_fields")?;
    if columns.is_empty() {
        return Ok(());
    }
    refuse_pk::<M>(&columns, "save_fields")?;
    if M::META.has_auto_pk() && is_unset_pk(obj) {
        return Err(Error::InvalidInput(format!(
            "save_fields on an unsaved {}: its primary key is unset; insert it first \
             (Django: \"Cannot force an update in save() with no primary key.\")",
            M::META.name
        )));
    }
    super::require_keys_set(obj)?;
    obj.pre_save()?;
    // Django's `pre_save` for the fields saved: a listed `auto_now` field is set now.
    obj.touch_auto_now(false, Some(&columns));
    match update_row(obj, &columns, ex).await? {
        0 => Err(Error::DoesNotExist {
            model: M::META.name,
        }),
        _ => obj.post_save(false),
    }
}
