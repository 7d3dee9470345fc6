//! A small in-process cache for figures about other merchants (peer KPIs, the population's
//! spend): they are the same for every request about the same outlet and period, are the
//! costliest queries of the service, and are not covered by the freshness promise, which is
//! about the organisation's own KPIs (those are never cached). Concurrent requests for the
//! same key wait for one computation instead of each running it.

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

/// A cache from `K` to `V`, each entry computed once per [`TTL`].
pub struct Cache<K, V> {
    entries: Mutex<HashMap<K, (Instant, Slot<V>)>>,
}

impl<K: Eq + Hash + Clone, V> Default for Cache<K, V> {
    fn default() -> Self {
        Cache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone, V> Cache<K, V> {
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
            if entries.len() >= CAPACITY {
                entries.retain(|_, (at, _)| now.duration_since(*at) < TTL);
                if entries.len() >= CAPACITY
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
                .filter(|(at, _)| now.duration_since(*at) < TTL)
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
