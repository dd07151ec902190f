//! The Redis backend: one multiplexed connection behind redis-rs's `ConnectionManager`,
//! which reconnects when the connection breaks (a Redis restart): the command that was
//! in flight when it broke fails, and the next ones run on a new connection.

use std::time::Duration;

use orm_core::{Error, Result};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};

use super::store::Ttl;

/// How Redis is started on a Debian machine, for the unreachable message.
const START_HINT: &str = "start it (`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" \
     --appendonly no`, or your service manager) or fix the URL";

/// `INCRBY` that refuses a missing key (Django's `incr` raises `ValueError` there, and
/// a plain `INCRBY` would create it at 0), in one atomic step.
const INCR: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('ORM_CACHE_MISSING')
end
return redis.call('INCRBY', KEYS[1], ARGV[1])
";

/// `touch(key, Never)`: `PERSIST` answers 0 for a key that exists without expiry; touch
/// answers whether the key exists.
const PERSIST: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('PERSIST', KEYS[1])
return 1
";

/// The query cache's read: every version key (KEYS[2..]), created with its fresh token
/// (ARGV) when missing, then the entry (KEYS[1]), in one atomic step. Version keys get no
/// expiry: under a `volatile-*` eviction policy Redis never evicts them, and under an
/// `allkeys-*` one an evicted version key only makes a new random token, which no stored
/// entry carries.
const GET_VERSIONED: &str = r"
local out = {}
for i = 2, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if not v then
    redis.call('SET', KEYS[i], ARGV[i - 1])
    v = ARGV[i - 1]
  end
  out[i - 1] = v
end
out[#KEYS] = redis.call('GET', KEYS[1])
return out
";

pub(crate) struct RedisStore {
    conn: ConnectionManager,
    /// The URL without its password, for messages.
    url: String,
    incr: Script,
    persist: Script,
    get_versioned: Script,
}

/// `url` without the password it may hold.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Milliseconds for `PX`/`PEXPIRE`, rounded up so that a sub-millisecond lifetime is not
/// zero (which Redis refuses).
fn millis(d: Duration) -> u64 {
    let ms = d.as_millis() + u128::from(!d.subsec_nanos().is_multiple_of(1_000_000));
    u64::try_from(ms)
        .unwrap_or(u64::MAX)
        .clamp(1, i64::MAX as u64 / 2)
}

impl RedisStore {
    pub(crate) async fn connect(url: &str) -> Result<RedisStore> {
        let shown = redact(url);
        let client = redis::Client::open(url).map_err(|e| {
            Error::Cache(format!(
                "invalid Redis URL {shown}: {e} (expected redis://host:port/db)"
            ))
        })?;
        // Two quick retries when connecting: an unreachable server is reported within
        // seconds, not after the default backoff. Answers may take 5 s (redis-rs's default,
        // 0.5 s, fails a large MGET or SCAN on a busy server).
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(100))
            .set_max_delay(Duration::from_secs(1))
            .set_connection_timeout(Some(Duration::from_secs(2)));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| unreachable(&shown, &e))?;
        Ok(RedisStore {
            conn,
            url: shown,
            incr: Script::new(INCR),
            persist: Script::new(PERSIST),
            get_versioned: Script::new(GET_VERSIONED),
        })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    fn err(&self, e: RedisError) -> Error {
        if e.is_connection_refusal() {
            unreachable(&self.url, &e)
        } else if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
            Error::Cache(format!(
                "the connection to Redis at {} failed: {e}; the next command reconnects \
                 (if Redis is down: {START_HINT})",
                self.url
            ))
        } else {
            Error::Cache(format!("Redis at {} answered an error: {e}", self.url))
        }
    }

    /// Run `command` on the connection; an idempotent one (`retry`) runs once more when
    /// the connection turned out to be broken (Redis restarted while it sat idle: the
    /// connection manager notices only when a command fails, then reconnects). Commands
    /// whose second run could differ (`INCRBY`, `SET NX`) are not retried.
    async fn run<T, F, Fut>(&self, retry: bool, command: F) -> Result<T>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        match command(self.conn.clone()).await {
            Err(e) if retry && (e.is_connection_dropped() || e.is_io_error()) => {
                command(self.conn.clone()).await.map_err(|e| self.err(e))
            }
            other => other.map_err(|e| self.err(e)),
        }
    }

    pub(crate) async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let cmd = redis::cmd("MGET").arg(keys).clone();
        let cmd = &cmd;
        self.run(true, |mut c| async move { cmd.query_async(&mut c).await })
            .await
    }

    pub(crate) async fn set(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Ttl,
        only_if_absent: bool,
    ) -> Result<bool> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value);
        if let Some(d) = ttl {
            cmd.arg("PX").arg(millis(d));
        }
        if only_if_absent {
            cmd.arg("NX");
        }
        let cmd = &cmd;
        let r: Option<String> = self
            .run(!only_if_absent, |mut c| async move {
                cmd.query_async(&mut c).await
            })
            .await?;
        Ok(r.is_some())
    }

    pub(crate) async fn set_many(&self, entries: Vec<(String, Vec<u8>)>, ttl: Ttl) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (k, v) in entries {
            let cmd = pipe.cmd("SET").arg(k).arg(v);
            if let Some(d) = ttl {
                cmd.arg("PX").arg(millis(d));
            }
            cmd.ignore();
        }
        let pipe = &pipe;
        self.run(
            true,
            |mut c| async move { pipe.query_async::<()>(&mut c).await },
        )
        .await
    }

    pub(crate) async fn delete_many(&self, keys: &[String]) -> Result<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        let cmd = redis::cmd("DEL").arg(keys).clone();
        let cmd = &cmd;
        self.run(true, |mut c| async move { cmd.query_async(&mut c).await })
            .await
    }

    pub(crate) async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        let mut c = self.conn.clone();
        self.incr
            .key(key)
            .arg(delta)
            .invoke_async(&mut c)
            .await
            .map_err(|e| {
                let text = e.to_string();
                if text.contains("ORM_CACHE_MISSING") {
                    super::missing_for_incr(key)
                } else if text.contains("not an integer") {
                    super::not_an_integer(key)
                } else if text.contains("overflow") {
                    Error::Cache(format!(
                        "incr of `{key}` by {delta} would overflow a 64-bit integer"
                    ))
                } else {
                    self.err(e)
                }
            })
    }

    pub(crate) async fn touch(&self, key: &str, ttl: Ttl) -> Result<bool> {
        let r: i64 = match ttl {
            Some(d) => {
                let cmd = redis::cmd("PEXPIRE").arg(key).arg(millis(d)).clone();
                let cmd = &cmd;
                self.run(true, |mut c| async move { cmd.query_async(&mut c).await })
                    .await?
            }
            None => {
                let persist = &self.persist;
                self.run(true, |mut c| async move {
                    persist.key(key).invoke_async(&mut c).await
                })
                .await?
            }
        };
        Ok(r == 1)
    }

    pub(crate) async fn get_versioned(
        &self,
        key: &str,
        version_keys: &[std::sync::Arc<str>],
        fresh: fn() -> u64,
    ) -> Result<(Vec<u64>, Option<std::sync::Arc<[u8]>>)> {
        let script = &self.get_versioned;
        let mut invocation = script.prepare_invoke();
        invocation.key(key);
        for k in version_keys {
            invocation.key(&**k).arg(fresh().to_string());
        }
        let invocation = &invocation;
        // Idempotent: a second run reads the tokens the first one set.
        let mut out: Vec<Option<Vec<u8>>> = self
            .run(true, |mut c| async move {
                invocation.invoke_async(&mut c).await
            })
            .await?;
        let value = out.pop().flatten().map(std::sync::Arc::<[u8]>::from);
        let tokens = out
            .into_iter()
            .map(|t| {
                t.and_then(|t| std::str::from_utf8(&t).ok()?.parse::<u64>().ok())
                    .ok_or_else(|| {
                        Error::Cache(format!(
                            "Redis at {} holds a query-cache version key that is not a token",
                            self.url
                        ))
                    })
            })
            .collect::<Result<Vec<u64>>>()?;
        Ok((tokens, value))
    }

    pub(crate) async fn bump(
        &self,
        version_keys: &[std::sync::Arc<str>],
        tokens: &[u64],
    ) -> Result<()> {
        if version_keys.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("MSET");
        for (k, t) in version_keys.iter().zip(tokens) {
            cmd.arg(&**k).arg(t.to_string());
        }
        let cmd = &cmd;
        self.run(
            true,
            |mut c| async move { cmd.query_async::<()>(&mut c).await },
        )
        .await
    }

    pub(crate) async fn clear(&self, key_prefix: &str) -> Result<()> {
        let mut pattern = String::with_capacity(key_prefix.len() + 1);
        for ch in key_prefix.chars() {
            if matches!(ch, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(ch);
        }
        pattern.push('*');
        let mut c = self.conn.clone();
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut c)
                .await
                .map_err(|e| self.err(e))?;
            if !keys.is_empty() {
                redis::cmd("UNLINK")
                    .arg(keys)
                    .query_async::<()>(&mut c)
                    .await
                    .map_err(|e| self.err(e))?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

fn unreachable(url: &str, e: &RedisError) -> Error {
    Error::Cache(format!(
        "Redis at {url} is unreachable: {e}; {START_HINT}. A connection lost while running \
         is re-established by the next command"
    ))
}
