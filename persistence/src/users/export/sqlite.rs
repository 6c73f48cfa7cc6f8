//! The export from a SQLite file: a read-only connection of its own, on a blocking thread,
//! steps the rows and sends them on in batches; the async side only takes batches.
//!
//! Each batch is one statement in autocommit, so no read transaction (which would hold back
//! WAL checkpoints) outlives a batch, and writers are never blocked: WAL readers do not lock.

use super::BATCH;
use crate::error::{Error, Result};
use chrono::{DateTime, NaiveDate, Utc};
use domain::users::{ExportedUser, UserStream};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// Batches read ahead of the consumer: the reader steps the next while the current one is
/// written out.
const AHEAD: usize = 2;

/// How long the export's connection waits for a lock (only a checkpoint's brief one, in WAL).
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Every user of the SQLite database in `file`, in id order.
pub(super) fn export(file: PathBuf) -> UserStream {
    let (batches, mut received) = mpsc::channel(AHEAD);
    // Not aborted when the stream is dropped (a blocking thread cannot be): the reader stops at
    // its next send, which fails once nobody receives.
    tokio::task::spawn_blocking(move || {
        if let Err(err) = read(&file, &batches) {
            let _ = batches.blocking_send(Err(err));
        }
    });
    Box::pin(async_stream::try_stream! {
        while let Some(batch) = received.recv().await {
            for row in batch? {
                yield row;
            }
        }
    })
}

/// Reads every user into `batches`, until done or until nobody receives.
fn read(file: &Path, batches: &mpsc::Sender<Result<Vec<ExportedUser>>>) -> Result<()> {
    let conn = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mut statement = conn.prepare(
        "SELECT id, name, email, bio, created_at, updated_at FROM users \
         WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let mut after = 0_i64;
    loop {
        let mut batch = Vec::with_capacity(BATCH as usize);
        let mut rows = statement.query((after, BATCH as i64))?;
        while let Some(row) = rows.next()? {
            batch.push(ExportedUser {
                id: row.get(0)?,
                name: row.get(1)?,
                email: row.get(2)?,
                bio: row.get(3)?,
                created_at: instant(text(row, 4)?)?,
                updated_at: instant(text(row, 5)?)?,
            });
        }
        // Resets the statement: the batch's read transaction ends here.
        drop(rows);
        let full = batch.len() as u64 == BATCH;
        if let Some(last) = batch.last() {
            after = last.id;
        }
        if batches.blocking_send(Ok(batch)).is_err() || !full {
            return Ok(());
        }
    }
}

/// Column `at` of `row`, which must hold text.
fn text<'a>(row: &'a rusqlite::Row<'_>, at: usize) -> Result<&'a str> {
    row.get_ref(at)?
        .as_str()
        .map_err(|err| corrupt(err.to_string()))
}

fn corrupt(reason: String) -> Error {
    Error::Corrupt {
        what: "exported user",
        reason,
    }
}

/// A timestamp as stored: RFC 3339 text, as sqlx writes a `DateTime<Utc>`
/// (`2026-01-02T03:04:05.123456+00:00`). That shape is read by hand (a large share of the
/// export's time went to chrono's general parser); any other goes to chrono.
fn instant(text: &str) -> Result<DateTime<Utc>> {
    match utc(text) {
        Some(at) => Ok(at),
        None => DateTime::parse_from_rfc3339(text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(|err| corrupt(format!("{text:?}: {err}"))),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+00:00)`, or `None`.
fn utc(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    let number = |from: usize, to: usize| {
        bytes.get(from..to)?.iter().try_fold(0_u32, |value, &byte| {
            byte.is_ascii_digit()
                .then(|| value * 10 + u32::from(byte - b'0'))
        })
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if !separators
        .iter()
        .all(|&(at, sep)| bytes.get(at) == Some(&sep))
    {
        return None;
    }
    let mut rest = bytes.get(19..)?;
    let mut nanos = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = number(20, 20 + digits)? * 10_u32.pow(9 - digits as u32);
        rest = &fraction[digits..];
    }
    if rest != b"Z" && rest != b"+00:00" {
        return None;
    }
    let year = i32::try_from(number(0, 4)?).ok()?;
    NaiveDate::from_ymd_opt(year, number(5, 7)?, number(8, 10)?)?
        .and_hms_nano_opt(number(11, 13)?, number(14, 16)?, number(17, 19)?, nanos)
        .map(|at| at.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::SecondsFormat;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn stored_timestamps_read_as_chrono_reads_them(
            seconds in 0_i64..253_402_300_799,
            nanos in 0_u32..1_000_000_000,
            format in prop::sample::select(vec![
                SecondsFormat::Secs, SecondsFormat::Millis, SecondsFormat::Micros,
                SecondsFormat::Nanos, SecondsFormat::AutoSi,
            ]),
            z in any::<bool>(),
        ) {
            let at = DateTime::from_timestamp(seconds, nanos).unwrap();
            let text = at.to_rfc3339_opts(format, z);
            let by_chrono = DateTime::parse_from_rfc3339(&text).unwrap().with_timezone(&Utc);
            prop_assert_eq!(utc(&text), Some(by_chrono));
        }
    }

    #[test]
    fn other_shapes_go_to_chrono_or_are_refused() {
        for text in [
            "2026-01-02 03:04:05+00:00",
            "2026-01-02T03:04:05+01:00",
            "2026-01-02T03:04:05.+00:00",
            "2026-01-02T03:04:05.1234567891Z",
            "2026-13-02T03:04:05Z",
            "2026-01-02T03:04:05",
        ] {
            assert_eq!(utc(text), None, "{text}");
        }
        assert_eq!(
            instant("2026-01-02T04:04:05+01:00").unwrap(),
            instant("2026-01-02T03:04:05Z").unwrap()
        );
        assert!(instant("yesterday").is_err());
    }
}
