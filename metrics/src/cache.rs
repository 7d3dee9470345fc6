//! A small in-process cache for figures about other merchants (peer KPIs, the population's
//! spend): they are the same for every request about the same outlet and period, are the
//! costliest queries of the service, and are not covered by the freshness promise, which is
//! about the organisation's own KPIs (those are never cached). Concurrent requests for the
//! same key wait for one computation instead of each running it.
//!
//! Whole answers are cached too ([`answers`]), under the database's data version
//! (`metrics.data_version()`, migration 0011, polled every second): an ingest batch, the
//! rollup worker or a pipeline job changes it, and answers cached under an older version
//! are never served again. So the organisation's own figures stay as fresh as the rollups
//! (the freshness promise), and a dashboard opened by many people costs one computation.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

/// Entries live this long.
pub const TTL: Duration = Duration::from_secs(600);
/// At most this many entries; the oldest go first.
pub const CAPACITY: usize = 4096;

type Slot<V> = Arc<OnceCell<Arc<V>>>;

/// A cache from `K` to `V`, each entry computed once per `ttl` ([`TTL`] by default).
pub struct Cache<K, V> {
    entries: Mutex<HashMap<K, (Instant, Slot<V>)>>,
    ttl: Duration,
    capacity: usize,
}

impl<K: Eq + Hash + Clone, V> Default for Cache<K, V> {
    fn default() -> Self {
        Cache::new(TTL, CAPACITY)
    }
}

impl<K: Eq + Hash + Clone, V> Cache<K, V> {
    /// A cache whose entries live `ttl`, at most `capacity` of them.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Cache {
            entries: Mutex::new(HashMap::new()),
            ttl,
            capacity,
        }
    }

    /// The value for `key`, computed by `compute` unless a fresh one is there (or being
    /// computed). A failed computation is not kept.
    pub async fn get_or_try<E, F, Fut>(&self, key: K, compute: F) -> Result<Arc<V>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let slot = {
            let mut entries = self.entries.lock().expect("cache lock");
            let now = Instant::now();
            let ttl = self.ttl;
            if entries.len() >= self.capacity {
                entries.retain(|_, (at, _)| now.duration_since(*at) < ttl);
                if entries.len() >= self.capacity
                    && let Some(oldest) = entries
                        .iter()
                        .min_by_key(|(_, (at, _))| *at)
                        .map(|(k, _)| k.clone())
                {
                    entries.remove(&oldest);
                }
            }
            let fresh = entries
                .get(&key)
                .filter(|(at, _)| now.duration_since(*at) < ttl)
                .map(|(_, slot)| slot.clone());
            fresh.unwrap_or_else(|| {
                let slot: Slot<V> = Arc::default();
                entries.insert(key.clone(), (now, slot.clone()));
                slot
            })
        };
        let result = slot
            .get_or_try_init(|| async { compute().await.map(Arc::new) })
            .await;
        if result.is_err() {
            let mut entries = self.entries.lock().expect("cache lock");
            if entries
                .get(&key)
                .is_some_and(|(_, s)| Arc::ptr_eq(s, &slot))
            {
                entries.remove(&key);
            }
        }
        result.cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_requests_compute_once_and_failures_are_not_kept() {
        let cache: Cache<u32, u32> = Cache::default();
        let runs = AtomicUsize::new(0);
        let compute = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<u32, ()>(7)
        };
        let (a, b) = tokio::join!(cache.get_or_try(1, compute), cache.get_or_try(1, compute));
        assert_eq!((*a.unwrap(), *b.unwrap()), (7, 7));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(
            cache
                .get_or_try(2, || async { Err::<u32, ()>(()) })
                .await
                .is_err()
        );
        assert_eq!(
            *cache
                .get_or_try(2, || async { Ok::<u32, ()>(9) })
                .await
                .unwrap(),
            9
        );
    }
}

/// Cached whole answers.
pub mod answers {
    use std::sync::Arc;
    use std::time::Duration;

    use axum::body::{Body, Bytes};
    use axum::extract::{Request, State};
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::middleware::Next;
    use axum::response::{IntoResponse, Response};
    use lyra_common::db::{Db, OrgId};
    use tokio::sync::watch;

    use super::Cache;
    use crate::MetricsState;
    use crate::access::Tenant;

    /// How often the data version is read.
    pub const POLL: Duration = Duration::from_secs(1);

    /// What an answer is cached under.
    #[derive(Debug, Clone, PartialEq, Eq, Hash)]
    pub struct Key {
        org: OrgId,
        uri: String,
        csv: bool,
        version: Arc<str>,
    }

    /// A successful answer, as sent.
    pub struct Stored {
        headers: HeaderMap,
        body: Bytes,
    }

    /// The answer cache: short-lived entries (the version makes them stale sooner), at most
    /// 1,024 of them.
    pub fn cache() -> Arc<Cache<Key, Stored>> {
        Arc::new(Cache::new(Duration::from_secs(300), 1024))
    }

    /// Keeps the data version current; empty until it has been read once.
    pub fn version(db: Db) -> watch::Receiver<Arc<str>> {
        let (tx, rx) = watch::channel(Arc::<str>::from(""));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL);
            loop {
                tick.tick().await;
                let read: sqlx::Result<String> =
                    sqlx::query_scalar("SELECT metrics.data_version()")
                        .fetch_one(db.pool())
                        .await;
                match read {
                    Ok(v) if **tx.borrow() != *v => {
                        if tx.send(Arc::from(v)).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // Unknown again: nothing is served from the cache until it is read.
                    Err(e) => {
                        tracing::warn!(error = %e, "data version unreadable");
                        tx.send_replace(Arc::from(""));
                    }
                }
                if tx.is_closed() {
                    return;
                }
            }
        });
        rx
    }

    /// Serves a tenant's repeated request from the cache (same organisation, same URL and
    /// format, same data version); computes and keeps it otherwise. Only 200 answers are
    /// kept.
    pub async fn layer(
        State(state): State<MetricsState>,
        tenant: Tenant,
        request: Request,
        next: Next,
    ) -> Response {
        let version = state.version.borrow().clone();
        if version.is_empty() {
            return next.run(request).await;
        }
        let csv = request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv"));
        let key = Key {
            org: tenant.org,
            uri: request.uri().to_string(),
            csv,
            version,
        };
        let stored = state
            .answers
            .get_or_try(key, || async move {
                let response = next.run(request).await;
                if response.status() != StatusCode::OK {
                    return Err(response);
                }
                let (parts, body) = response.into_parts();
                match axum::body::to_bytes(body, usize::MAX).await {
                    Ok(body) => Ok(Stored {
                        headers: parts.headers,
                        body,
                    }),
                    Err(_) => Err(StatusCode::INTERNAL_SERVER_ERROR.into_response()),
                }
            })
            .await;
        match stored {
            Ok(stored) => {
                let mut response = Response::new(Body::from(stored.body.clone()));
                *response.headers_mut() = stored.headers.clone();
                response
            }
            Err(response) => response,
        }
    }
}
