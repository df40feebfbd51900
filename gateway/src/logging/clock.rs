//! UTC wall-clock times for log lines, without a date crate: two formats from one civil
//! date computation.

use std::time::{SystemTime, UNIX_EPOCH};

/// A UTC time split into its fields.
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    secs_of_day: i64,
    millis: u32,
}

fn civil(t: SystemTime) -> Civil {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, secs_of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil { year, month, day, secs_of_day, millis: d.subsec_millis() }
}

/// `2026-11-21 20:15:09,123` (UTC), Python's `asctime`: the Arterys line format.
pub fn asctime(t: SystemTime) -> String {
    stamp(t, ' ', ',', "")
}

/// `2026-11-21T20:15:09.123Z`: RFC 3339 in UTC, the JSON lines' `time`.
pub fn rfc3339(t: SystemTime) -> String {
    stamp(t, 'T', '.', "Z")
}

/// Date, `between`, time, `decimal`, milliseconds, `suffix`: the two formats differ only there.
fn stamp(t: SystemTime, between: char, decimal: char, suffix: &str) -> String {
    let c = civil(t);
    let s = c.secs_of_day;
    format!(
        "{:04}-{:02}-{:02}{between}{:02}:{:02}:{:02}{decimal}{:03}{suffix}",
        c.year,
        c.month,
        c.day,
        s / 3600,
        s % 3600 / 60,
        s % 60,
        c.millis
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn asctime_matches_known_dates() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_292_109_123);
        assert_eq!(asctime(t), "2026-11-21 20:15:09,123");
        assert_eq!(asctime(UNIX_EPOCH), "1970-01-01 00:00:00,000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&asctime(leap)[..10], "2000-02-29");
    }

    #[test]
    fn rfc3339_matches_known_dates() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_292_109_123);
        assert_eq!(rfc3339(t), "2026-11-21T20:15:09.123Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(951_868_799)), "2000-02-29T23:59:59.000Z");
    }
}
