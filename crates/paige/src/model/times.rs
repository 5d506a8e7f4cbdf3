//! Times as the store keeps them: milliseconds since the Unix epoch, UTC.

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

pub fn now_millis() -> Millis {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// RFC 3339 in UTC with milliseconds, ISO date first: `2026-11-28T03:20:11.123Z`.
pub fn format_utc(millis: Millis) -> String {
    Utc(millis).to_string()
}

/// A time shown as [`format_utc`] shows it, written where it is displayed
/// (into a response body, say) without a string of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc(pub Millis);

impl std::fmt::Display for Utc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000) {
            // Four-digit years, the only ones `[year]` writes unsigned and
            // unpadded alike; the digits go into one buffer written at once.
            Ok(t) if (0..=9999).contains(&t.year()) => {
                let mut text = *b"0000-00-00T00:00:00.000Z";
                let fields = [
                    (0, 4, t.year().unsigned_abs()),
                    (5, 2, u32::from(u8::from(t.month()))),
                    (8, 2, u32::from(t.day())),
                    (11, 2, u32::from(t.hour())),
                    (14, 2, u32::from(t.minute())),
                    (17, 2, u32::from(t.second())),
                    (20, 3, u32::from(t.millisecond())),
                ];
                for (at, width, mut value) in fields {
                    for digit in text[at..at + width].iter_mut().rev() {
                        *digit = b'0' + (value % 10) as u8;
                        value /= 10;
                    }
                }
                f.write_str(std::str::from_utf8(&text).map_err(|_| std::fmt::Error)?)
            }
            _ => f.write_str(&format_with_time(self.0)),
        }
    }
}

/// [`format_utc`] by the `time` crate's formatter, for the years the fast
/// path leaves to it.
fn format_with_time(millis: Millis) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| format!("@{millis}ms"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_path_writes_what_the_time_formatter_writes() {
        for millis in [
            0,
            1,
            999,
            1_764_300_011_123,
            -1,
            -86_400_001,
            253_402_300_799_999,
            253_402_300_800_000,
            -62_167_219_200_001,
            i64::MAX,
            i64::MIN,
        ] {
            assert_eq!(Utc(millis).to_string(), format_with_time(millis), "{millis}");
        }
        assert_eq!(format_utc(1_764_300_011_123), "2025-11-28T03:20:11.123Z");
    }
}
