//! Reading result rows by column position, without knowing the driver.

use futures_util::future::BoxFuture;

use crate::dsl::prefetch_related::PrefetchNode;
use crate::dsl::select_related::SelectNode;
use crate::error::{ColumnAt, Error, Result};
use crate::eval::executor::RowSource;
use crate::schema::value::Value;

/// One result row, read by column position.
///
/// Backends implement this for their row type; generated model code reads each column
/// with the method for its type, in select order, so no cell is looked up by name.
/// Methods for optional types have default bodies that refuse, so a backend built
/// without a feature still compiles and says what is missing.
pub trait Row {
    /// Name of the backend, for error messages.
    fn backend(&self) -> &'static str;
    fn is_null(&self, idx: usize) -> Result<bool>;
    fn get_bool(&self, idx: usize) -> Result<bool>;
    fn get_i16(&self, idx: usize) -> Result<i16>;
    fn get_i32(&self, idx: usize) -> Result<i32>;
    fn get_i64(&self, idx: usize) -> Result<i64>;
    fn get_f32(&self, idx: usize) -> Result<f32>;
    fn get_f64(&self, idx: usize) -> Result<f64>;
    fn get_string(&self, idx: usize) -> Result<String>;
    fn get_bytes(&self, idx: usize) -> Result<Vec<u8>>;

    /// The names of the row's columns, in order: how a raw SELECT's columns are matched
    /// to a model's fields ([`FromRawRow`](crate::schema::raw_row::FromRawRow)). A row
    /// that cannot name them refuses.
    fn column_names(&self) -> Result<Vec<&str>> {
        Err(Error::Unsupported {
            what: "reading columns by name (raw SQL into a model)".to_owned(),
            backend: self.backend(),
            hint: "",
        })
    }

    #[cfg(feature = "chrono")]
    fn get_date(&self, idx: usize) -> Result<chrono::NaiveDate> {
        let _ = idx;
        Err(unsupported("chrono::NaiveDate", self.backend()))
    }
    #[cfg(feature = "chrono")]
    fn get_time(&self, idx: usize) -> Result<chrono::NaiveTime> {
        let _ = idx;
        Err(unsupported("chrono::NaiveTime", self.backend()))
    }
    #[cfg(feature = "chrono")]
    fn get_datetime(&self, idx: usize) -> Result<chrono::NaiveDateTime> {
        let _ = idx;
        Err(unsupported("chrono::NaiveDateTime", self.backend()))
    }
    #[cfg(feature = "chrono")]
    fn get_datetime_utc(&self, idx: usize) -> Result<chrono::DateTime<chrono::Utc>> {
        let _ = idx;
        Err(unsupported("chrono::DateTime<Utc>", self.backend()))
    }
    #[cfg(feature = "uuid")]
    fn get_uuid(&self, idx: usize) -> Result<uuid::Uuid> {
        let _ = idx;
        Err(unsupported("uuid::Uuid", self.backend()))
    }
    #[cfg(feature = "decimal")]
    fn get_decimal(&self, idx: usize) -> Result<rust_decimal::Decimal> {
        let _ = idx;
        Err(unsupported("rust_decimal::Decimal", self.backend()))
    }
    #[cfg(feature = "json")]
    fn get_json(&self, idx: usize) -> Result<serde_json::Value> {
        let _ = idx;
        Err(unsupported("serde_json::Value", self.backend()))
    }
}

#[allow(dead_code)] // used only when an optional type feature is on
fn unsupported(what: &str, backend: &'static str) -> Error {
    Error::Unsupported {
        what: what.to_owned(),
        backend,
        hint: " in this build: enable the orm-sqlx feature of the same name",
    }
}

/// A type that can be built from a whole result row: models, scalars and tuples
/// (typed projections).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be read from a result row",
    label = "not a model, a field type or a tuple of them",
    note = "rows read as a model (`#[derive(Model)]`), a field type (i64, String, Option<f64>…) or a tuple of those"
)]
pub trait FromRow: Sized + Send + 'static {
    /// How many columns one value reads.
    fn width() -> usize;
    /// Build a value from the columns starting at `offset`.
    fn from_row<R: Row + ?Sized>(row: &R, offset: usize) -> Result<Self>;

    /// Attach the relations `select_related` read in the same row (models only).
    #[doc(hidden)]
    fn load_selected(&mut self, nodes: &[SelectNode], row: &dyn Row) -> Result<()> {
        let _ = (nodes, row);
        Ok(())
    }

    /// Run `prefetch_related` for these rows (models only).
    #[doc(hidden)]
    fn prefetch_rows<'a>(
        rows: &'a mut Vec<Self>,
        nodes: &'a [PrefetchNode],
        ex: &'a mut (dyn RowSource + 'a),
    ) -> BoxFuture<'a, Result<()>> {
        let _ = (rows, nodes, ex);
        Box::pin(async { Ok(()) })
    }
}

impl FromRow for () {
    fn width() -> usize {
        0
    }
    fn from_row<R: Row + ?Sized>(_row: &R, _offset: usize) -> Result<Self> {
        Ok(())
    }
}

macro_rules! tuple_first {
    ($s:expr, $a:ident $(, $n:ident)*) => {
        $s.0
    };
}

/// Prefetch into the first element of every tuple: moved out, prefetched, put back.
macro_rules! tuple_prefetch {
    ($rows:expr, $nodes:expr, $ex:expr, $a:ident) => {{
        let rows = $rows;
        let (nodes, ex) = ($nodes, $ex);
        Box::pin(async move {
            if nodes.is_empty() || rows.is_empty() {
                return Ok(());
            }
            let mut firsts: Vec<$a> = std::mem::take(rows).into_iter().map(|(f,)| f).collect();
            let r = $a::prefetch_rows(&mut firsts, nodes, ex).await;
            rows.extend(firsts.into_iter().map(|f| (f,)));
            r
        })
    }};
    ($rows:expr, $nodes:expr, $ex:expr, $a:ident $(, $n:ident)+) => {{
        let rows = $rows;
        let (nodes, ex) = ($nodes, $ex);
        Box::pin(async move {
            if nodes.is_empty() || rows.is_empty() {
                return Ok(());
            }
            let taken = std::mem::take(rows);
            let mut firsts = Vec::with_capacity(taken.len());
            let mut rests = Vec::with_capacity(taken.len());
            for t in taken {
                #[allow(non_snake_case)]
                let (f, $($n),+) = t;
                firsts.push(f);
                rests.push(($($n,)+));
            }
            let r = $a::prefetch_rows(&mut firsts, nodes, ex).await;
            #[allow(non_snake_case)]
            rows.extend(firsts.into_iter().zip(rests).map(|(f, ($($n,)+))| (f, $($n),+)));
            r
        })
    }};
}

macro_rules! tuple_from_row {
    ($($n:ident),+) => {
        impl<$($n: FromRow),+> FromRow for ($($n,)+) {
            fn width() -> usize {
                0 $(+ $n::width())+
            }
            #[allow(unused_assignments)]
            fn from_row<Rw: Row + ?Sized>(row: &Rw, offset: usize) -> Result<Self> {
                let mut at = offset;
                Ok(($({
                    let v = $n::from_row(row, at)?;
                    at += $n::width();
                    v
                },)+))
            }
            /// The relations `select_related` read belong to the first element: the model
            /// of an annotated row `(model, values)`.
            fn load_selected(
                &mut self,
                nodes: &[SelectNode],
                row: &dyn Row,
            ) -> Result<()> {
                tuple_first!(self, $($n),+).load_selected(nodes, row)
            }
            /// Prefetches fill the first element (the model of an annotated row).
            fn prefetch_rows<'a>(
                rows: &'a mut Vec<Self>,
                nodes: &'a [PrefetchNode],
                ex: &'a mut (dyn RowSource + 'a),
            ) -> BoxFuture<'a, Result<()>> {
                tuple_prefetch!(rows, nodes, ex, $($n),+)
            }
        }
    };
}
tuple_from_row!(A);
tuple_from_row!(A, B);
tuple_from_row!(A, B, C);
tuple_from_row!(A, B, C, D);
tuple_from_row!(A, B, C, D, E);
tuple_from_row!(A, B, C, D, E, F);
tuple_from_row!(A, B, C, D, E, F, G);
tuple_from_row!(A, B, C, D, E, F, G, H);

/// A row of values the program already has (what aggregates are over no rows), read by
/// position like a fetched one.
pub(crate) struct ValuesRow(pub(crate) Vec<Value>);

macro_rules! values_row_getters {
    ($($(#[$m:meta])* $name:ident -> $t:ty;)*) => { $(
        $(#[$m])*
        fn $name(&self, idx: usize) -> Result<$t> {
            ValueRow(self.at(idx)?.clone()).$name(0)
        }
    )* };
}

impl ValuesRow {
    fn at(&self, idx: usize) -> Result<&Value> {
        self.0.get(idx).ok_or(Error::Decode {
            at: ColumnAt::Index(idx),
            expected: "a value",
            message: "the row has no such column".into(),
        })
    }
}

impl Row for ValuesRow {
    fn backend(&self) -> &'static str {
        "a value"
    }
    fn is_null(&self, idx: usize) -> Result<bool> {
        Ok(self.at(idx)?.is_null())
    }
    values_row_getters! {
        get_bool -> bool;
        get_i16 -> i16;
        get_i32 -> i32;
        get_i64 -> i64;
        get_f32 -> f32;
        get_f64 -> f64;
        get_string -> String;
        get_bytes -> Vec<u8>;
        #[cfg(feature = "uuid")]
        get_uuid -> uuid::Uuid;
    }
    #[cfg(feature = "decimal")]
    fn get_decimal(&self, idx: usize) -> Result<rust_decimal::Decimal> {
        match self.at(idx)? {
            Value::Decimal(d) => Ok(*d),
            other => Err(mismatch("Decimal", other)),
        }
    }
    #[cfg(feature = "chrono")]
    fn get_date(&self, idx: usize) -> Result<chrono::NaiveDate> {
        match self.at(idx)? {
            Value::Date(d) => Ok(*d),
            other => Err(mismatch("NaiveDate", other)),
        }
    }
    #[cfg(feature = "chrono")]
    fn get_time(&self, idx: usize) -> Result<chrono::NaiveTime> {
        match self.at(idx)? {
            Value::Time(d) => Ok(*d),
            other => Err(mismatch("NaiveTime", other)),
        }
    }
    #[cfg(feature = "chrono")]
    fn get_datetime(&self, idx: usize) -> Result<chrono::NaiveDateTime> {
        match self.at(idx)? {
            Value::DateTime(d) => Ok(*d),
            other => Err(mismatch("NaiveDateTime", other)),
        }
    }
    #[cfg(feature = "chrono")]
    fn get_datetime_utc(&self, idx: usize) -> Result<chrono::DateTime<chrono::Utc>> {
        match self.at(idx)? {
            Value::DateTimeTz(d) => Ok(*d),
            other => Err(mismatch("DateTime<Utc>", other)),
        }
    }
}

/// A one-column row holding a value the program already has (a generated id, a parent's
/// key), so that the generated column setters can read it like a fetched one.
pub(crate) struct ValueRow(pub(crate) Value);

fn mismatch(expected: &'static str, got: &Value) -> Error {
    Error::Decode {
        at: ColumnAt::Index(0),
        expected,
        message: format!("the value is {got:?}"),
    }
}

macro_rules! int_getter {
    ($name:ident, $t:ty) => {
        fn $name(&self, _: usize) -> Result<$t> {
            let n: i64 = match &self.0 {
                Value::I16(x) => i64::from(*x),
                Value::I32(x) => i64::from(*x),
                Value::I64(x) => *x,
                other => return Err(mismatch(stringify!($t), other)),
            };
            <$t>::try_from(n).map_err(|e| Error::Decode {
                at: ColumnAt::Index(0),
                expected: stringify!($t),
                message: e.to_string(),
            })
        }
    };
}

impl Row for ValueRow {
    fn backend(&self) -> &'static str {
        "a value"
    }
    fn is_null(&self, _: usize) -> Result<bool> {
        Ok(self.0.is_null())
    }
    fn get_bool(&self, _: usize) -> Result<bool> {
        match &self.0 {
            Value::Bool(b) => Ok(*b),
            other => Err(mismatch("bool", other)),
        }
    }
    int_getter!(get_i16, i16);
    int_getter!(get_i32, i32);
    int_getter!(get_i64, i64);
    fn get_f32(&self, _: usize) -> Result<f32> {
        match &self.0 {
            Value::F32(x) => Ok(*x),
            other => Err(mismatch("f32", other)),
        }
    }
    fn get_f64(&self, _: usize) -> Result<f64> {
        match &self.0 {
            Value::F64(x) => Ok(*x),
            other => Err(mismatch("f64", other)),
        }
    }
    fn get_string(&self, _: usize) -> Result<String> {
        match &self.0 {
            Value::Text(x) => Ok(x.clone()),
            other => Err(mismatch("String", other)),
        }
    }
    fn get_bytes(&self, _: usize) -> Result<Vec<u8>> {
        match &self.0 {
            Value::Bytes(x) => Ok(x.clone()),
            other => Err(mismatch("Vec<u8>", other)),
        }
    }
    #[cfg(feature = "uuid")]
    fn get_uuid(&self, _: usize) -> Result<uuid::Uuid> {
        match &self.0 {
            Value::Uuid(x) => Ok(*x),
            other => Err(mismatch("Uuid", other)),
        }
    }
}
