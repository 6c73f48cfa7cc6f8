//! Keyset pagination: pages are "up to `limit` items after this key", never offsets, so walking
//! a list that changes meanwhile neither repeats nor skips an item that stays.

use crate::Violation;

/// How many items a page may hold, 1..=100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u16);

impl Limit {
    /// The smallest page.
    pub const MIN: u16 = 1;
    /// The largest page.
    pub const MAX: u16 = 100;
    /// The page size when a client names none.
    pub const DEFAULT: Self = Self(20);

    /// Parses a page size.
    pub fn parse(value: i64) -> Result<Self, Violation> {
        match u16::try_from(value) {
            Ok(n) if (Self::MIN..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(Violation::new(
                "limit_out_of_range",
                format!("must be between {} and {}", Self::MIN, Self::MAX),
            )),
        }
    }

    /// The size as a count.
    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

/// A request for one page: the items whose key comes after `after` (from the start when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest<K = i64> {
    /// The key of the last item of the previous page.
    pub after: Option<K>,
    /// The most items to return.
    pub limit: Limit,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T, K = i64> {
    /// The items, in list order.
    pub items: Vec<T>,
    /// The key to continue after, when more items follow.
    pub next_after: Option<K>,
}

impl<T, K> Page<T, K> {
    /// Builds a page from up to `limit + 1` fetched items: the extra item only tells that
    /// another page exists, and is dropped.
    pub fn from_overfetch(mut fetched: Vec<T>, limit: Limit, key: impl Fn(&T) -> K) -> Self {
        let next_after = if fetched.len() > limit.get() {
            fetched.truncate(limit.get());
            fetched.last().map(key)
        } else {
            None
        };
        Self {
            items: fetched,
            next_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_accepts_one_to_hundred() {
        assert_eq!(Limit::parse(1).unwrap().get(), 1);
        assert_eq!(Limit::parse(100).unwrap().get(), 100);
        for bad in [0, -1, 101, i64::MAX] {
            assert_eq!(Limit::parse(bad).unwrap_err().code, "limit_out_of_range");
        }
    }

    #[test]
    fn overfetched_item_means_a_next_page() {
        let limit = Limit::parse(2).unwrap();
        let page = Page::from_overfetch(vec![1, 2, 3], limit, |n| *n);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_after, Some(2));
    }

    #[test]
    fn exact_fit_is_the_last_page() {
        let limit = Limit::parse(2).unwrap();
        let page = Page::from_overfetch(vec![1, 2], limit, |n| *n);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_after, None);
    }
}
