//! The SQL functions the ORM registers on every SQLite connection so that SQLite computes
//! what PostgreSQL computes, or refuses what PostgreSQL refuses.
//!
//! Arithmetic (`orm_i32(a, '*', b)`, … see [`SQLITE_ARITH_FUNCTIONS`]): SQLite's own
//! operators turn an integer overflow into a REAL, give NULL for `x / 0` and compute
//! decimals (stored as text) in floating point. These functions compute in the field's
//! type and raise PostgreSQL's condition instead: an integer overflows at its own type's
//! range (`int2`, `int4`, `int8`), a float at `float4`'s or `float8`'s (underflow and
//! division by zero are errors too), a decimal is computed exactly, with PostgreSQL's
//! scale rules (division included), and a result that `rust_decimal` cannot hold is an
//! error. NULL in gives NULL out.
//!
//! Regular expressions (`regexp`, `orm_iregexp`): Rust's `regex` crate, as sqlx's
//! `regexp` (which this one replaces), with an invalid pattern reported as such.
//!
//! Decimals (the `orm_decimal` collation): compared and sorted by exact value.
//!
//! An error message starts with the PostgreSQL SQLSTATE of the same condition in brackets
//! (`[22003] integer out of range: …`); the backend turns it into the same typed error as
//! PostgreSQL's (see `backend::db_error`).

use std::ffi::c_int;

use libsqlite3_sys as ffi;
use orm_core::SqlType;
use orm_core::dialect::SQLITE_ARITH_FUNCTIONS;
use orm_core::expr::ArithOp;

/// SQLSTATE 22003, `numeric_value_out_of_range`.
pub(crate) const OUT_OF_RANGE: &str = "22003";
/// SQLSTATE 22012, `division_by_zero`.
pub(crate) const DIVISION_BY_ZERO: &str = "22012";
/// SQLSTATE 2201B, `invalid_regular_expression`.
pub(crate) const INVALID_REGEX: &str = "2201B";

/// Why a function refused its arguments: the SQLSTATE of the same condition on PostgreSQL,
/// and the message.
#[derive(Debug, PartialEq)]
pub(crate) struct Refusal {
    pub(crate) sqlstate: &'static str,
    pub(crate) message: String,
}

fn out_of_range(message: String) -> Refusal {
    Refusal {
        sqlstate: OUT_OF_RANGE,
        message,
    }
}

fn division_by_zero(message: String) -> Refusal {
    Refusal {
        sqlstate: DIVISION_BY_ZERO,
        message,
    }
}

/// Register every arithmetic function, and the decimal collation, on `db`.
///
/// # Safety
/// `db` is a valid connection handle, locked by the caller for the duration of the call.
pub(super) unsafe fn register(db: *mut ffi::sqlite3) -> Result<(), String> {
    for entry in &SQLITE_ARITH_FUNCTIONS {
        let name = std::ffi::CString::new(entry.0).map_err(|e| e.to_string())?;
        // SAFETY: `db` is valid (the caller's contract); the user data points at a static
        // that outlives the connection; the callback has the signature SQLite expects.
        let rc = unsafe {
            ffi::sqlite3_create_function_v2(
                db,
                name.as_ptr(),
                3,
                ffi::SQLITE_UTF8 | ffi::SQLITE_DETERMINISTIC,
                std::ptr::from_ref(entry).cast_mut().cast(),
                Some(arith_fn),
                None,
                None,
                None,
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(format!("cannot register {}: SQLite error {rc}", entry.0));
        }
    }
    // `regexp` replaces sqlx's (whose invalid-pattern error reads "constraint failed").
    static CASE_SENSITIVE: bool = false;
    static CASE_INSENSITIVE: bool = true;
    for (name, flag) in [
        ("regexp", &CASE_SENSITIVE),
        (orm_core::dialect::SQLITE_IREGEXP_FN, &CASE_INSENSITIVE),
    ] {
        let c_name = std::ffi::CString::new(name).map_err(|e| e.to_string())?;
        // SAFETY: as above; the user data points at a static.
        let rc = unsafe {
            ffi::sqlite3_create_function_v2(
                db,
                c_name.as_ptr(),
                2,
                ffi::SQLITE_UTF8 | ffi::SQLITE_DETERMINISTIC,
                std::ptr::from_ref(flag).cast_mut().cast(),
                Some(regexp_fn),
                None,
                None,
                None,
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(format!("cannot register {name}: SQLite error {rc}"));
        }
    }
    #[cfg(feature = "decimal")]
    {
        let name = std::ffi::CString::new(orm_core::dialect::SQLITE_DECIMAL_COLLATION)
            .map_err(|e| e.to_string())?;
        // SAFETY: as above; the comparison touches only the two strings SQLite passes.
        let rc = unsafe {
            ffi::sqlite3_create_collation_v2(
                db,
                name.as_ptr(),
                ffi::SQLITE_UTF8,
                std::ptr::null_mut(),
                Some(decimal_collation),
                None,
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(format!(
                "cannot register the {} collation: SQLite error {rc}",
                orm_core::dialect::SQLITE_DECIMAL_COLLATION
            ));
        }
        type Final = unsafe extern "C" fn(*mut ffi::sqlite3_context);
        for (name, last) in [
            (
                orm_core::dialect::SQLITE_DECIMAL_SUM_FN,
                decimal_aggregate::sum_final as Final,
            ),
            (
                orm_core::dialect::SQLITE_DECIMAL_AVG_FN,
                decimal_aggregate::avg_final as Final,
            ),
        ] {
            let c_name = std::ffi::CString::new(name).map_err(|e| e.to_string())?;
            // SAFETY: as above; the aggregate keeps its state in SQLite's aggregate
            // context, freed by the final callback.
            let rc = unsafe {
                ffi::sqlite3_create_function_v2(
                    db,
                    c_name.as_ptr(),
                    1,
                    ffi::SQLITE_UTF8 | ffi::SQLITE_DETERMINISTIC,
                    std::ptr::null_mut(),
                    None,
                    Some(decimal_aggregate::step),
                    Some(last),
                    None,
                )
            };
            if rc != ffi::SQLITE_OK {
                return Err(format!("cannot register {name}: SQLite error {rc}"));
            }
        }
    }
    Ok(())
}

/// `orm_decimal_sum(x)` and `orm_decimal_avg(x)`: the exact sum of decimals stored as text
/// (with PostgreSQL's scale: the largest of the values'), and that sum divided by their
/// count as PostgreSQL's `avg(numeric)` divides; NULLs are skipped, no value gives NULL; a
/// sum past what a `Decimal` holds is PostgreSQL's out-of-range error.
#[cfg(feature = "decimal")]
mod decimal_aggregate {
    use super::*;
    use rust_decimal::Decimal;

    /// The running state, boxed; SQLite's aggregate context holds the pointer.
    #[derive(Default)]
    struct State {
        sum: Decimal,
        count: i64,
        error: Option<Answer>,
    }

    /// The state of this call's group, created on the first row.
    ///
    /// # Safety
    /// `ctx` is the valid context of a running aggregate call.
    unsafe fn state(ctx: *mut ffi::sqlite3_context, create: bool) -> Option<&'static mut State> {
        let size = if create {
            std::mem::size_of::<*mut State>() as c_int
        } else {
            0
        };
        // SAFETY: SQLite returns zeroed memory of `size` bytes, the same for every call of
        // one group (or NULL when `size` is 0 and no row came).
        unsafe {
            let slot = ffi::sqlite3_aggregate_context(ctx, size).cast::<*mut State>();
            if slot.is_null() {
                return None;
            }
            if (*slot).is_null() {
                if !create {
                    return None;
                }
                *slot = Box::into_raw(Box::default());
            }
            Some(&mut **slot)
        }
    }

    /// Take the state out (freeing SQLite's pointer to it).
    ///
    /// # Safety
    /// `ctx` is the valid context of the final call of an aggregate.
    unsafe fn take(ctx: *mut ffi::sqlite3_context) -> Option<Box<State>> {
        // SAFETY: as `state`; the box was made by `Box::into_raw` there.
        unsafe {
            let slot = ffi::sqlite3_aggregate_context(ctx, 0).cast::<*mut State>();
            if slot.is_null() || (*slot).is_null() {
                return None;
            }
            Some(Box::from_raw(std::mem::replace(
                &mut *slot,
                std::ptr::null_mut(),
            )))
        }
    }

    pub(super) unsafe extern "C" fn step(
        ctx: *mut ffi::sqlite3_context,
        _argc: c_int,
        argv: *mut *mut ffi::sqlite3_value,
    ) {
        // SAFETY: SQLite passes one valid value and a valid aggregate context. A panic is
        // caught: it must not unwind into SQLite.
        unsafe {
            let Some(st) = state(ctx, true) else {
                return fail(ctx, "out of memory");
            };
            if st.error.is_some() {
                return;
            }
            let v = *argv;
            if ffi::sqlite3_value_type(v) == ffi::SQLITE_NULL {
                return;
            }
            let added = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let x = match text_of(v) {
                    Some(t) => parse_decimal(t).map_err(Answer::Fail)?,
                    None => return Err(Answer::Fail("a blob is not a decimal".to_owned())),
                };
                checked_decimal(ArithOp::Add, st.sum, x).map_err(Answer::Raise)
            }))
            .unwrap_or_else(|_| Err(Answer::Fail("internal error in orm_decimal_sum".into())));
            match added {
                Ok(sum) => {
                    st.sum = sum;
                    st.count += 1;
                }
                Err(e) => st.error = Some(e),
            }
        }
    }

    /// # Safety
    /// `ctx` is the valid context of the final call; `answer` computes the result.
    unsafe fn finish(ctx: *mut ffi::sqlite3_context, answer: impl FnOnce(State) -> Answer) {
        // SAFETY: as `take`; the result text is copied by SQLite (TRANSIENT).
        unsafe {
            let answer = match take(ctx) {
                None => Answer::Null,
                Some(st) => match st.error {
                    Some(_) => st.error.unwrap_or(Answer::Null),
                    None if st.count == 0 => Answer::Null,
                    None => answer(*st),
                },
            };
            match answer {
                Answer::Text(text) => ffi::sqlite3_result_text(
                    ctx,
                    text.as_ptr().cast(),
                    text.len() as c_int,
                    ffi::SQLITE_TRANSIENT(),
                ),
                Answer::Raise(e) => raise(ctx, &e),
                Answer::Fail(message) => fail(ctx, &message),
                _ => ffi::sqlite3_result_null(ctx),
            }
        }
    }

    pub(super) unsafe extern "C" fn sum_final(ctx: *mut ffi::sqlite3_context) {
        // SAFETY: SQLite calls it once per group with a valid context.
        unsafe { finish(ctx, |st| Answer::Text(st.sum.to_string())) }
    }

    pub(super) unsafe extern "C" fn avg_final(ctx: *mut ffi::sqlite3_context) {
        // SAFETY: SQLite calls it once per group with a valid context.
        unsafe {
            finish(ctx, |st| {
                match checked_decimal(ArithOp::Div, st.sum, Decimal::from(st.count)) {
                    Ok(avg) => Answer::Text(avg.to_string()),
                    Err(e) => Answer::Raise(e),
                }
            })
        }
    }
}

/// `regexp(pattern, text)` (what `text REGEXP pattern` calls) and
/// `orm_iregexp(pattern, text)`: 1 if Rust's `regex` crate finds the pattern in the text
/// (case-insensitively for the second: Unicode simple case folding), 0 if not, NULL if
/// either is NULL. An invalid pattern is an error that says why, with SQLSTATE 2201B as
/// PostgreSQL's. The compiled pattern is kept with the statement (SQLite's auxiliary
/// data) while the pattern stays the same.
unsafe extern "C" fn regexp_fn(
    ctx: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    use std::sync::Arc;

    /// Frees a compiled pattern SQLite no longer keeps.
    unsafe extern "C" fn drop_regex(p: *mut std::ffi::c_void) {
        // SAFETY: `p` came from `Arc::into_raw` below, and SQLite calls this once.
        drop(unsafe { Arc::from_raw(p.cast::<regex::Regex>()) });
    }

    // SAFETY: SQLite passes `argc` valid values and a valid context whose user data is one
    // of the two static flags registered with this function.
    unsafe {
        if argc != 2 {
            fail(ctx, "regexp takes a pattern and a text");
            return;
        }
        let case_insensitive = *ffi::sqlite3_user_data(ctx).cast::<bool>();
        let (pattern, text) = (*argv, *argv.add(1));
        if ffi::sqlite3_value_type(pattern) == ffi::SQLITE_NULL
            || ffi::sqlite3_value_type(text) == ffi::SQLITE_NULL
        {
            ffi::sqlite3_result_null(ctx);
            return;
        }
        let cached = ffi::sqlite3_get_auxdata(ctx, 0).cast::<regex::Regex>();
        let regex = if cached.is_null() {
            let Some(p) = text_of(pattern) else {
                fail(ctx, "a regular expression must be text");
                return;
            };
            let compiled = std::panic::catch_unwind(|| {
                regex::RegexBuilder::new(p)
                    .case_insensitive(case_insensitive)
                    .build()
            });
            let regex = match compiled {
                Ok(Ok(r)) => Arc::new(r),
                Ok(Err(e)) => {
                    let e = Refusal {
                        sqlstate: INVALID_REGEX,
                        message: format!("invalid regular expression {p:?}: {}", regex_error(&e)),
                    };
                    raise(ctx, &e);
                    return;
                }
                Err(_) => {
                    fail(ctx, "internal error compiling a regular expression");
                    return;
                }
            };
            // SQLite owns one reference from here (and frees it with `drop_regex`, maybe
            // at once); this call keeps its own.
            ffi::sqlite3_set_auxdata(
                ctx,
                0,
                Arc::into_raw(Arc::clone(&regex)).cast_mut().cast(),
                Some(drop_regex),
            );
            regex
        } else {
            Arc::increment_strong_count(cached);
            Arc::from_raw(cached)
        };
        let Some(text) = text_of(text) else {
            fail(ctx, "regexp matches text, not a blob");
            return;
        };
        let found = std::panic::catch_unwind(|| regex.is_match(text)).unwrap_or(false);
        ffi::sqlite3_result_int(ctx, c_int::from(found));
    }
}

/// The one line of a `regex` error that says what is wrong ("unclosed group"), without
/// the pattern and caret it draws above it.
fn regex_error(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(text) => text
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("error: "))
            .unwrap_or(text)
            .to_owned(),
        other => other.to_string(),
    }
}

/// The `orm_decimal` collation: decimals (stored as text) in the order of their exact
/// values, `"1.0"` equal to `"1.00"`, as PostgreSQL's NUMERIC compares; text that is not a
/// number after every number, in byte order.
#[cfg(feature = "decimal")]
unsafe extern "C" fn decimal_collation(
    _: *mut std::ffi::c_void,
    len_a: c_int,
    a: *const std::ffi::c_void,
    len_b: c_int,
    b: *const std::ffi::c_void,
) -> c_int {
    // SAFETY: SQLite passes two strings of the given lengths, valid during the call.
    let (a, b) = unsafe {
        (
            std::slice::from_raw_parts(a.cast::<u8>(), len_a.max(0) as usize),
            std::slice::from_raw_parts(b.cast::<u8>(), len_b.max(0) as usize),
        )
    };
    match std::panic::catch_unwind(|| compare_decimal_text(a, b)) {
        Ok(std::cmp::Ordering::Less) => -1,
        Ok(std::cmp::Ordering::Equal) => 0,
        Ok(std::cmp::Ordering::Greater) => 1,
        // Cannot happen; a panic must not unwind into SQLite.
        Err(_) => 0,
    }
}

/// A decimal's text in canonical parts: sign, integer digits without leading zeros,
/// fraction digits without trailing zeros (zero has neither, and no sign).
#[cfg(feature = "decimal")]
fn decimal_parts(text: &[u8]) -> Option<(bool, Vec<u8>, Vec<u8>)> {
    let text = std::str::from_utf8(text).ok()?.trim();
    // Exponents (a REAL written as text by other means): through a Decimal.
    if text.contains(['e', 'E']) {
        let d = parse_decimal(text).ok()?;
        return decimal_parts(d.to_string().as_bytes());
    }
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let int = int.trim_start_matches('0').as_bytes().to_vec();
    let frac = frac.trim_end_matches('0').as_bytes().to_vec();
    let zero = int.is_empty() && frac.is_empty();
    Some((negative && !zero, int, frac))
}

/// Compare two decimals written as text by exact value, whatever their length.
#[cfg(feature = "decimal")]
pub(crate) fn compare_decimal_text(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (decimal_parts(a), decimal_parts(b)) {
        (Some((na, ia, fa)), Some((nb, ib, fb))) => {
            if na != nb {
                return if na {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
            }
            // Magnitudes: more integer digits is larger; then digit by digit (fractions
            // without trailing zeros compare as text: "5" < "55" < "6").
            let magnitude = ia.len().cmp(&ib.len()).then(ia.cmp(&ib)).then(fa.cmp(&fb));
            if na { magnitude.reverse() } else { magnitude }
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// Report `e` as the function's error, its SQLSTATE in brackets first.
///
/// # Safety
/// `ctx` is the valid context of the running function call.
unsafe fn raise(ctx: *mut ffi::sqlite3_context, e: &Refusal) {
    let text = format!("[{}] {}", e.sqlstate, e.message);
    // SAFETY: SQLite copies the message before this returns.
    unsafe { ffi::sqlite3_result_error(ctx, text.as_ptr().cast(), text.len() as c_int) };
}

/// Report a plain error (no SQLSTATE of ours: it stays a database error).
///
/// # Safety
/// `ctx` is the valid context of the running function call.
unsafe fn fail(ctx: *mut ffi::sqlite3_context, message: &str) {
    // SAFETY: SQLite copies the message before this returns.
    unsafe { ffi::sqlite3_result_error(ctx, message.as_ptr().cast(), message.len() as c_int) };
}

/// The text of a value (SQLite renders numbers as text), or `None` for a blob.
///
/// # Safety
/// `v` is a valid protected value of the running call; the text lives until the value is
/// converted again or the call returns.
unsafe fn text_of<'a>(v: *mut ffi::sqlite3_value) -> Option<&'a str> {
    // SAFETY: the caller's contract.
    unsafe {
        if ffi::sqlite3_value_type(v) == ffi::SQLITE_BLOB {
            return None;
        }
        let p = ffi::sqlite3_value_text(v);
        if p.is_null() {
            return None;
        }
        let len = ffi::sqlite3_value_bytes(v).max(0) as usize;
        std::str::from_utf8(std::slice::from_raw_parts(p, len)).ok()
    }
}

/// An integer argument: an INTEGER, or a REAL or text holding a whole number.
///
/// # Safety
/// As [`text_of`].
unsafe fn int_arg(v: *mut ffi::sqlite3_value) -> Result<i64, String> {
    // SAFETY: the caller's contract.
    unsafe {
        match ffi::sqlite3_value_type(v) {
            ffi::SQLITE_INTEGER => Ok(ffi::sqlite3_value_int64(v)),
            ffi::SQLITE_FLOAT => {
                let f = ffi::sqlite3_value_double(v);
                // i64::MIN is exactly -2^63; i64::MAX rounds up to 2^63, out of range.
                if f.fract() == 0.0
                    && (-9_223_372_036_854_775_808.0..9.223_372_036_854_776e18).contains(&f)
                {
                    Ok(f as i64)
                } else {
                    Err(format!("{f:?} is not an integer"))
                }
            }
            _ => match text_of(v) {
                Some(t) => t
                    .trim()
                    .parse()
                    .map_err(|_| format!("{t:?} is not an integer")),
                None => Err("a blob is not an integer".into()),
            },
        }
    }
}

/// A float argument (SQLite converts integers and numeric text).
///
/// # Safety
/// As [`text_of`].
unsafe fn float_arg(v: *mut ffi::sqlite3_value) -> Result<f64, String> {
    // SAFETY: the caller's contract.
    unsafe {
        match ffi::sqlite3_value_type(v) {
            ffi::SQLITE_INTEGER | ffi::SQLITE_FLOAT => Ok(ffi::sqlite3_value_double(v)),
            _ => match text_of(v) {
                Some(t) => t
                    .trim()
                    .parse()
                    .map_err(|_| format!("{t:?} is not a number")),
                None => Err("a blob is not a number".into()),
            },
        }
    }
}

/// What an arithmetic call returns to SQLite.
enum Answer {
    Null,
    Int(i64),
    Float(f64),
    #[cfg_attr(not(feature = "decimal"), allow(dead_code))]
    Text(String),
    /// A condition PostgreSQL raises too (its SQLSTATE goes first in the message).
    Raise(Refusal),
    /// An argument that is not a number (written by other means than the ORM).
    Fail(String),
}

/// `orm_<type>(a, op, b)`: the checked arithmetic of the entry its user data points at,
/// `op` being `'+'`, `'-'`, `'*'` or `'/'`.
unsafe extern "C" fn arith_fn(
    ctx: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: SQLite passes `argc` valid value pointers and a valid context whose user data
    // is the `SQLITE_ARITH_FUNCTIONS` entry registered with this function. A panic must not
    // unwind into SQLite: it is caught and reported as the call's error.
    unsafe {
        let entry = &*ffi::sqlite3_user_data(ctx).cast::<(&str, SqlType)>();
        let (name, ty) = *entry;
        let op = if argc == 3 {
            match text_of(*argv.add(1)) {
                Some("+") => Some(ArithOp::Add),
                Some("-") => Some(ArithOp::Sub),
                Some("*") => Some(ArithOp::Mul),
                Some("/") => Some(ArithOp::Div),
                _ => None,
            }
        } else {
            None
        };
        let answer = match op {
            Some(op) => {
                let (a, b) = (*argv, *argv.add(2));
                std::panic::catch_unwind(|| compute(op, ty, a, b))
                    .unwrap_or_else(|_| Answer::Fail(format!("internal error in {name}")))
            }
            None => Answer::Fail(format!(
                "{name} takes a number, an operator ('+', '-', '*' or '/') and a number"
            )),
        };
        match answer {
            Answer::Null => ffi::sqlite3_result_null(ctx),
            Answer::Int(r) => ffi::sqlite3_result_int64(ctx, r),
            Answer::Float(r) => ffi::sqlite3_result_double(ctx, r),
            Answer::Text(text) => ffi::sqlite3_result_text(
                ctx,
                text.as_ptr().cast(),
                text.len() as c_int,
                ffi::SQLITE_TRANSIENT(),
            ),
            Answer::Raise(e) => raise(ctx, &e),
            Answer::Fail(message) => fail(ctx, &message),
        }
    }
}

/// The arithmetic itself, on two argument values.
///
/// # Safety
/// `a` and `b` are valid protected values of the running call.
unsafe fn compute(
    op: ArithOp,
    ty: SqlType,
    a: *mut ffi::sqlite3_value,
    b: *mut ffi::sqlite3_value,
) -> Answer {
    // SAFETY: the caller's contract.
    unsafe {
        if ffi::sqlite3_value_type(a) == ffi::SQLITE_NULL
            || ffi::sqlite3_value_type(b) == ffi::SQLITE_NULL
        {
            return Answer::Null;
        }
        match ty {
            SqlType::I16 | SqlType::I32 | SqlType::I64 => match (int_arg(a), int_arg(b)) {
                (Ok(x), Ok(y)) => checked_int(op, ty, x, y).map_or_else(Answer::Raise, Answer::Int),
                (Err(e), _) | (_, Err(e)) => Answer::Fail(e),
            },
            SqlType::F32 | SqlType::F64 => match (float_arg(a), float_arg(b)) {
                (Ok(x), Ok(y)) => {
                    checked_float(op, ty, x, y).map_or_else(Answer::Raise, Answer::Float)
                }
                (Err(e), _) | (_, Err(e)) => Answer::Fail(e),
            },
            #[cfg(feature = "decimal")]
            SqlType::Decimal => {
                let parse = |v| match text_of(v) {
                    Some(t) => parse_decimal(t),
                    None => Err("a blob is not a decimal".to_owned()),
                };
                match (parse(a), parse(b)) {
                    (Ok(x), Ok(y)) => checked_decimal(op, x, y)
                        .map_or_else(Answer::Raise, |r| Answer::Text(r.to_string())),
                    (Err(e), _) | (_, Err(e)) => Answer::Fail(e),
                }
            }
            _ => Answer::Fail(format!("no arithmetic on {ty:?} values")),
        }
    }
}

/// `a op b` in `ty` (`I16`, `I32` or `I64`), as PostgreSQL's `int2`/`int4`/`int8`
/// operators: a result outside the type's range is an error (so is `MIN / -1`), division
/// truncates toward zero, and dividing by zero is an error.
pub(crate) fn checked_int(op: ArithOp, ty: SqlType, a: i64, b: i64) -> Result<i64, Refusal> {
    let (min, max, pg, rust, sql) = match ty {
        SqlType::I16 => (
            i64::from(i16::MIN),
            i64::from(i16::MAX),
            "smallint",
            "i16",
            "SMALLINT",
        ),
        SqlType::I32 => (
            i64::from(i32::MIN),
            i64::from(i32::MAX),
            "integer",
            "i32",
            "INTEGER",
        ),
        _ => (i64::MIN, i64::MAX, "bigint", "i64", "BIGINT"),
    };
    let exact = match op {
        ArithOp::Add => i128::from(a) + i128::from(b),
        ArithOp::Sub => i128::from(a) - i128::from(b),
        ArithOp::Mul => i128::from(a) * i128::from(b),
        ArithOp::Div => {
            if b == 0 {
                return Err(division_by_zero(format!("division by zero: {a} / 0")));
            }
            i128::from(a) / i128::from(b)
        }
    };
    if (i128::from(min)..=i128::from(max)).contains(&exact) {
        Ok(exact as i64)
    } else {
        Err(out_of_range(format!(
            "{pg} out of range: {a} {} {b} = {exact} does not fit in {rust} ({sql})",
            op.sql()
        )))
    }
}

/// `a op b` in `ty` (`F32` or `F64`), as PostgreSQL's `float4`/`float8` operators: a
/// finite result that overflows to infinity, a product or quotient of non-zero values that
/// underflows to zero, and a division by zero are errors. A NaN result (`inf - inf`) is an
/// error too: SQLite cannot store NaN (it would become NULL).
pub(crate) fn checked_float(op: ArithOp, ty: SqlType, a: f64, b: f64) -> Result<f64, Refusal> {
    macro_rules! pg_float {
        ($t:ty, $name:expr) => {{
            let (a, b) = (a as $t, b as $t);
            let r: $t = match op {
                ArithOp::Add => a + b,
                ArithOp::Sub => a - b,
                ArithOp::Mul => a * b,
                ArithOp::Div => {
                    if b == 0.0 && !a.is_nan() {
                        return Err(division_by_zero(format!("division by zero: {a:?} / {b:?}")));
                    }
                    a / b
                }
            };
            let sym = op.sql();
            let overflow =
                r.is_infinite() && !a.is_infinite() && (op == ArithOp::Div || !b.is_infinite());
            if overflow {
                return Err(out_of_range(format!(
                    "value out of range: overflow: {a:?} {sym} {b:?} is infinite in {}",
                    $name
                )));
            }
            let underflow = r == 0.0
                && a != 0.0
                && match op {
                    ArithOp::Mul => b != 0.0,
                    ArithOp::Div => !b.is_infinite(),
                    ArithOp::Add | ArithOp::Sub => false,
                };
            if underflow {
                return Err(out_of_range(format!(
                    "value out of range: underflow: {a:?} {sym} {b:?} rounds to zero in {}",
                    $name
                )));
            }
            if r.is_nan() {
                return Err(out_of_range(format!(
                    "value out of range: {a:?} {sym} {b:?} is NaN, which SQLite cannot store"
                )));
            }
            Ok(f64::from(r))
        }};
    }
    match ty {
        SqlType::F32 => pg_float!(f32, "f32 (REAL)"),
        _ => pg_float!(f64, "f64 (DOUBLE PRECISION)"),
    }
}

#[cfg(feature = "decimal")]
pub(crate) use decimal::{checked_decimal, parse_decimal};

#[cfg(feature = "decimal")]
mod decimal {

    use orm_core::value::exact_decimal::{self, MAX_MANTISSA, MAX_SCALE, from_parts as fit};
    use rust_decimal::Decimal;

    use super::{ArithOp, Refusal, division_by_zero, out_of_range};

    /// A decimal stored as text, without rounding: text with more digits than a `Decimal`
    /// holds is refused, not rounded (`rust_decimal`'s own parser would round it).
    pub(crate) fn parse_decimal(text: &str) -> Result<Decimal, String> {
        exact_decimal::parse(text)
    }

    fn too_big(a: Decimal, op: ArithOp, b: Decimal) -> Refusal {
        out_of_range(format!(
            "numeric out of range: {a} {} {b} does not fit in rust_decimal's Decimal \
             (at most 28 digits after the point, a 96-bit mantissa)",
            op.sql()
        ))
    }

    /// The mantissa of `d` at `scale` (at least its own), if it fits an `i128`.
    fn mantissa_at(d: Decimal, scale: u32) -> Option<i128> {
        10i128
            .checked_pow(scale - d.scale())
            .and_then(|p| d.mantissa().checked_mul(p))
    }

    /// `a op b` with PostgreSQL's NUMERIC semantics: `+ - *` exact, with the scale
    /// PostgreSQL gives (the larger scale for `+ -`, their sum for `*`), `/` rounded half
    /// away from zero at the scale PostgreSQL's `select_div_scale` picks. A result that
    /// cannot be held exactly in a `Decimal` is an error; so is dividing by zero.
    pub(crate) fn checked_decimal(op: ArithOp, a: Decimal, b: Decimal) -> Result<Decimal, Refusal> {
        let r = match op {
            ArithOp::Add | ArithOp::Sub => {
                add(op, a, b).or_else(|| add(op, a.normalize(), b.normalize()))
            }
            ArithOp::Mul => mul(a, b).or_else(|| mul_normalized(a.normalize(), b.normalize())),
            ArithOp::Div => {
                if b.is_zero() {
                    return Err(division_by_zero(format!("division by zero: {a} / {b}")));
                }
                div(a, b)
            }
        };
        r.ok_or_else(|| too_big(a, op, b))
    }

    fn add(op: ArithOp, a: Decimal, b: Decimal) -> Option<Decimal> {
        let scale = a.scale().max(b.scale());
        let (x, y) = (mantissa_at(a, scale)?, mantissa_at(b, scale)?);
        let m = if op == ArithOp::Add {
            x.checked_add(y)?
        } else {
            x.checked_sub(y)?
        };
        fit(m, scale)
    }

    fn mul(a: Decimal, b: Decimal) -> Option<Decimal> {
        fit(
            a.mantissa().checked_mul(b.mantissa())?,
            a.scale() + b.scale(),
        )
    }

    /// The product of two normalized decimals whose mantissas' product overflows an
    /// `i128`: the factors of ten it holds are taken out first (as many as the scale allows).
    fn mul_normalized(a: Decimal, b: Decimal) -> Option<Decimal> {
        let (mut x, mut y) = (a.mantissa(), b.mantissa());
        let scale = a.scale() + b.scale();
        let factors = |mut n: i128, p: i128| {
            let mut k = 0;
            while n != 0 && n % p == 0 {
                n /= p;
                k += 1;
            }
            k
        };
        let twos = factors(x, 2) + factors(y, 2);
        let fives = factors(x, 5) + factors(y, 5);
        let tens = twos.min(fives).min(scale);
        for p in [2, 5] {
            for _ in 0..tens {
                if x % p == 0 {
                    x /= p;
                } else {
                    y /= p;
                }
            }
        }
        fit(x.checked_mul(y)?, scale - tens)
    }

    /// The weight (power of 10000 of its first non-zero base-10000 digit) and that digit of
    /// `|d|`, as PostgreSQL's NUMERIC stores it; zero has (0, 0).
    fn base10000_lead(d: Decimal) -> (i64, u128) {
        let m = d.mantissa().unsigned_abs();
        if m == 0 {
            return (0, 0);
        }
        let digits = i64::from(m.ilog10()) + 1;
        let exp10 = digits - 1 - i64::from(d.scale());
        let weight = exp10.div_euclid(4);
        let shift = i64::from(d.scale()) + 4 * weight;
        let first = if shift >= 0 {
            m / 10u128.pow(shift as u32)
        } else {
            m * 10u128.pow((-shift) as u32)
        };
        (weight, first % 10_000)
    }

    /// PostgreSQL's `select_div_scale`: at least 16 significant digits, and no fewer digits
    /// after the point than either operand has.
    fn div_scale(a: Decimal, b: Decimal) -> u32 {
        let (w1, f1) = base10000_lead(a);
        let (w2, f2) = base10000_lead(b);
        let mut qweight = w1 - w2;
        if f1 <= f2 {
            qweight -= 1;
        }
        let rscale = (16 - qweight * 4)
            .max(i64::from(a.scale()))
            .max(i64::from(b.scale()))
            .clamp(0, 1000);
        rscale as u32
    }

    /// `a / b` rounded half away from zero at PostgreSQL's scale, by long division; `None`
    /// if the quotient cannot be held exactly.
    fn div(a: Decimal, b: Decimal) -> Option<Decimal> {
        let rscale = div_scale(a, b);
        // a / b = ma / mb × 10^(sb - sa); the digits up to `rscale` are those of
        // ma × 10^(rscale + sb - sa) / mb, and rscale >= sa.
        let steps = rscale + b.scale() - a.scale();
        let num = a.mantissa().unsigned_abs();
        let den = b.mantissa().unsigned_abs();
        let mut q = num / den;
        let mut r = num % den;
        let mut done = 0;
        while done < steps && r != 0 {
            // r < den < 2^96: r × 10 fits.
            r *= 10;
            q = q.checked_mul(10)?.checked_add(r / den)?;
            r %= den;
            done += 1;
        }
        if r != 0 && 2 * r >= den {
            q = q.checked_add(1)?;
        }
        // An exact quotient stops early: the digits left are zeros, written as far as a
        // Decimal holds them (PostgreSQL writes them all: `10 / 4` is 2.5000000000000000).
        let zeros = steps - done;
        let mut scale = match rscale.checked_sub(zeros) {
            Some(scale) => scale,
            // More zeros than digits after the point: the quotient is q × 10^k.
            None => {
                q = q.checked_mul(10u128.checked_pow(zeros - rscale)?)?;
                0
            }
        };
        while scale < rscale.min(MAX_SCALE) && q.checked_mul(10).is_some_and(|x| x <= MAX_MANTISSA)
        {
            q *= 10;
            scale += 1;
        }
        let q = i128::try_from(q).ok()?;
        let negative = a.is_sign_negative() != b.is_sign_negative() && q != 0;
        fit(if negative { -q } else { q }, scale)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn d(s: &str) -> Decimal {
            parse_decimal(s).unwrap()
        }

        fn calc(op: ArithOp, a: &str, b: &str) -> String {
            checked_decimal(op, d(a), d(b))
                .map(|r| r.to_string())
                .unwrap_or_else(|e| format!("[{}]", e.sqlstate))
        }

        #[test]
        fn sums_and_products_are_exact_with_postgresql_scales() {
            use ArithOp::*;
            assert_eq!(calc(Add, "0.1", "0.2"), "0.3");
            assert_eq!(calc(Add, "1.50", "1"), "2.50");
            assert_eq!(
                calc(Sub, "1", "0.0000000000000000000000000001"),
                "0.9999999999999999999999999999"
            );
            assert_eq!(calc(Mul, "0.1", "3"), "0.3");
            assert_eq!(calc(Mul, "1.5", "1.5"), "2.25");
            assert_eq!(
                calc(Mul, "12345678901234.5678", "10000"),
                "123456789012345678.0000"
            );
            // 29 digits after the point: more than a Decimal holds.
            assert_eq!(
                calc(Mul, "0.00000000000001", "0.000000000000001"),
                "[22003]"
            );
            // Trailing zeros past the 28th digit go; the value is kept.
            assert_eq!(
                calc(Mul, "0.00000000000002", "0.000000000000005"),
                "0.0000000000000000000000000001"
            );
            assert_eq!(calc(Add, "79228162514264337593543950335", "1"), "[22003]");
            assert_eq!(calc(Add, "79228162514264337593543950335", "0.1"), "[22003]");
            assert_eq!(
                calc(Sub, "-79228162514264337593543950335", "0"),
                "-79228162514264337593543950335"
            );
            assert_eq!(calc(Mul, "79228162514264337593543950335", "2"), "[22003]");
            // The exact product needs 30 digits; without its trailing zero it fits.
            assert_eq!(
                calc(Mul, "7922816251426433759354395033.5", "2"),
                "15845632502852867518708790067"
            );
        }

        #[test]
        fn quotients_take_postgresql_scale_and_rounding() {
            use ArithOp::*;
            // Checked against PostgreSQL 15: SELECT a::numeric / b::numeric.
            assert_eq!(calc(Div, "1", "3"), "0.33333333333333333333");
            assert_eq!(calc(Div, "2", "3"), "0.66666666666666666667");
            assert_eq!(calc(Div, "-2", "3"), "-0.66666666666666666667");
            assert_eq!(calc(Div, "10", "4"), "2.5000000000000000");
            assert_eq!(calc(Div, "1", "8"), "0.12500000000000000000");
            assert_eq!(calc(Div, "0", "7"), "0.00000000000000000000");
            assert_eq!(calc(Div, "1.000000", "3"), "0.33333333333333333333");
            assert_eq!(calc(Div, "100000", "3"), "33333.333333333333");
            assert_eq!(calc(Div, "7", "0"), "[22012]");
            assert_eq!(calc(Div, "10", "0.5"), "20.0000000000000000");
            assert_eq!(calc(Div, "10", "0.0001"), "100000.000000000000");
            assert_eq!(calc(Div, "79228162514264337593543950335", "0.1"), "[22003]");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "decimal")]
    #[test]
    fn decimals_collate_by_exact_value() {
        use std::cmp::Ordering::*;
        let cmp = |a: &str, b: &str| compare_decimal_text(a.as_bytes(), b.as_bytes());
        assert_eq!(cmp("9", "10"), Less);
        assert_eq!(cmp("1.0", "1.00"), Equal);
        assert_eq!(cmp("-0", "0.000"), Equal);
        assert_eq!(cmp("-5", "-0.5"), Less);
        assert_eq!(cmp("-10", "-9"), Less);
        assert_eq!(cmp("0.5", "0.55"), Less);
        assert_eq!(cmp("0.6", "0.55"), Greater);
        assert_eq!(cmp("007", "7.0"), Equal);
        // Past what a double tells apart, and past what a Decimal holds.
        assert_eq!(cmp("1.0000000000000000000000000001", "1"), Greater);
        assert_eq!(
            cmp(
                "123456789012345678901234567890.1",
                "123456789012345678901234567890.01"
            ),
            Greater
        );
        assert_eq!(cmp("1e2", "100"), Equal);
        assert_eq!(cmp("abc", "1"), Greater);
        assert_eq!(cmp("abc", "abd"), Less);
    }

    #[test]
    fn integers_overflow_at_their_own_range() {
        use ArithOp::*;
        assert_eq!(checked_int(Add, SqlType::I16, 32_766, 1), Ok(32_767));
        assert_eq!(
            checked_int(Add, SqlType::I16, 32_767, 1)
                .unwrap_err()
                .sqlstate,
            OUT_OF_RANGE
        );
        assert_eq!(
            checked_int(Mul, SqlType::I32, 3, 1_000_000_000)
                .unwrap_err()
                .message,
            "integer out of range: 3 * 1000000000 = 3000000000 does not fit in i32 (INTEGER)"
        );
        assert_eq!(
            checked_int(Mul, SqlType::I64, 3, 1_000_000_000),
            Ok(3_000_000_000)
        );
        assert_eq!(
            checked_int(Div, SqlType::I32, i64::from(i32::MIN), -1)
                .unwrap_err()
                .sqlstate,
            OUT_OF_RANGE
        );
        assert_eq!(
            checked_int(Div, SqlType::I64, i64::MIN, -1)
                .unwrap_err()
                .sqlstate,
            OUT_OF_RANGE
        );
        assert_eq!(
            checked_int(Div, SqlType::I64, 7, 0).unwrap_err().sqlstate,
            DIVISION_BY_ZERO
        );
        assert_eq!(checked_int(Div, SqlType::I32, -7, 2), Ok(-3));
    }

    #[test]
    fn floats_fail_where_postgresql_fails() {
        use ArithOp::*;
        let state = |r: Result<f64, Refusal>| r.map_err(|e| e.sqlstate);
        assert_eq!(
            state(checked_float(Mul, SqlType::F64, 1e300, 1e300)),
            Err(OUT_OF_RANGE)
        );
        assert_eq!(
            state(checked_float(Mul, SqlType::F64, 1e-300, 1e-300)),
            Err(OUT_OF_RANGE)
        );
        assert_eq!(
            state(checked_float(Mul, SqlType::F32, 1e30, 1e30)),
            Err(OUT_OF_RANGE)
        );
        assert_eq!(
            state(checked_float(Mul, SqlType::F64, 1e30, 1e30)),
            Ok(1e30 * 1e30)
        );
        assert_eq!(
            state(checked_float(Div, SqlType::F64, 1.0, 0.0)),
            Err(DIVISION_BY_ZERO)
        );
        assert_eq!(
            state(checked_float(Div, SqlType::F64, 0.0, 0.0)),
            Err(DIVISION_BY_ZERO)
        );
        assert_eq!(
            state(checked_float(Add, SqlType::F64, f64::INFINITY, 1.0)),
            Ok(f64::INFINITY)
        );
        assert_eq!(
            state(checked_float(
                Sub,
                SqlType::F64,
                f64::INFINITY,
                f64::INFINITY
            )),
            Err(OUT_OF_RANGE)
        );
        assert_eq!(
            state(checked_float(Div, SqlType::F64, 1.0, f64::INFINITY)),
            Ok(0.0)
        );
        assert_eq!(
            state(checked_float(Add, SqlType::F32, 0.1, 0.2)),
            Ok(f64::from(0.1f32 + 0.2f32))
        );
    }
}
