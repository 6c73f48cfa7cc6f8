//! `Range` of a download (RFC 9110 §14): which bytes a client asks for.

use std::ops::Range;

/// What a `Range` header asks of a representation of `size` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// The whole representation (no `Range`, or one the server may ignore: malformed, several
    /// ranges, another unit).
    Whole,
    /// One range of bytes, within the representation.
    Part(Range<u64>),
    /// A range that starts at or past the end: 416.
    Unsatisfiable,
}

/// Interprets a `Range` header for a representation of `size` bytes.
pub fn wanted(header: Option<&str>, size: u64) -> Wanted {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Wanted::Whole;
    };
    let number = |text: &str| -> Option<u64> {
        let text = text.trim();
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse().ok())
            .flatten()
    };
    match (number(first), number(last), last.trim().is_empty()) {
        // bytes=-N: the last N bytes.
        (None, Some(suffix), _) if first.trim().is_empty() => {
            if suffix == 0 || size == 0 {
                Wanted::Unsatisfiable
            } else {
                Wanted::Part(size.saturating_sub(suffix)..size)
            }
        }
        // bytes=A- : from A to the end.
        (Some(start), None, true) => within(start, size.saturating_sub(1), size),
        // bytes=A-B
        (Some(start), Some(end), _) if start <= end => {
            within(start, end.min(size.saturating_sub(1)), size)
        }
        _ => Wanted::Whole,
    }
}

fn within(start: u64, last: u64, size: u64) -> Wanted {
    if start >= size {
        Wanted::Unsatisfiable
    } else {
        Wanted::Part(start..last + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges_are_honoured_within_the_size() {
        assert_eq!(wanted(Some("bytes=0-4"), 10), Wanted::Part(0..5));
        assert_eq!(wanted(Some("bytes=2-"), 10), Wanted::Part(2..10));
        assert_eq!(wanted(Some("bytes=-3"), 10), Wanted::Part(7..10));
        assert_eq!(wanted(Some("bytes=-30"), 10), Wanted::Part(0..10));
        assert_eq!(wanted(Some("bytes=5-500"), 10), Wanted::Part(5..10));
        assert_eq!(wanted(Some("bytes=9-9"), 10), Wanted::Part(9..10));
    }

    #[test]
    fn ranges_past_the_end_are_unsatisfiable() {
        assert_eq!(wanted(Some("bytes=10-"), 10), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=10-20"), 10), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=-0"), 10), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=0-"), 0), Wanted::Unsatisfiable);
    }

    #[test]
    fn other_ranges_are_ignored() {
        for ignored in [
            None,
            Some("items=0-1"),
            Some("bytes=0-1,4-5"),
            Some("bytes=5-2"),
            Some("bytes=x-"),
            Some("bytes=-"),
        ] {
            assert_eq!(wanted(ignored, 10), Wanted::Whole, "{ignored:?}");
        }
    }
}
