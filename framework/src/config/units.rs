//! Human-friendly durations (`"30s"`, `"500ms"`) and byte sizes (`"2MiB"`) for config fields.

/// `#[serde(with = "trestle::config::duration")]` for a `std::time::Duration` field: accepts
/// `"250ms"`, `"30s"`, `"5m"`, `"1h"`, `"1m30s"`, or a bare number of seconds.
pub mod duration {
    use std::time::Duration;

    use serde::{Deserializer, Serializer};

    /// Parses `"1m30s"`-style text. The error says what is accepted.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let t = text.trim();
        if let Ok(secs) = t.parse::<u64>() {
            return Ok(Duration::from_secs(secs));
        }
        let mut total = Duration::ZERO;
        let mut rest = t;
        if rest.is_empty() {
            return Err("an empty value is not a duration: write e.g. \"500ms\", \"30s\", \"5m\" or \"1h\"".to_owned());
        }
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            let unit_len = rest[digits..].find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len() - digits);
            let (num, unit) = (&rest[..digits], rest[digits..digits + unit_len].trim());
            let n: u64 = num.parse().map_err(|_| {
                "the value is not a duration: write e.g. \"500ms\", \"30s\", \"5m\" or \"1h\"".to_owned()
            })?;
            let part = match unit {
                "ms" => Duration::from_millis(n),
                "s" => Duration::from_secs(n),
                "m" | "min" => Duration::from_secs(n * 60),
                "h" => Duration::from_secs(n * 3600),
                _ => return Err("the duration has an unknown unit: use ms, s, m or h".to_owned()),
            };
            total += part;
            rest = &rest[digits + unit_len..];
        }
        Ok(total)
    }

    /// Serializes as text `parse` reads back (`"30s"`, `"250ms"`).
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        if d.subsec_millis() == 0 {
            s.serialize_str(&format!("{}s", d.as_secs()))
        } else {
            s.serialize_str(&format!("{}ms", d.as_millis()))
        }
    }

    /// Deserializes from text or a number of seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(super::TextOrNumber {
            expecting: "a duration such as \"30s\" or \"500ms\"",
            parse,
            from_number: Duration::from_secs,
        })
    }
}

/// `#[serde(with = "trestle::config::byte_size")]` for a `usize` field: accepts `"2MiB"`,
/// `"512KiB"`, `"1GiB"`, `"100B"` (also `KB`/`MB`/`GB`, powers of 1000) or a bare number.
pub mod byte_size {
    use serde::{Deserializer, Serializer};

    /// Parses `"2MiB"`-style text.
    pub fn parse(text: &str) -> Result<usize, String> {
        let t = text.trim();
        let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        // The value is not repeated: error messages never echo config values.
        let bad = || "the value is not a size: write e.g. \"512KiB\", \"2MiB\" or a number of bytes".to_owned();
        let n: usize = t[..digits].parse().map_err(|_| bad())?;
        let factor: usize = match t[digits..].trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            _ => return Err(bad()),
        };
        n.checked_mul(factor).ok_or_else(bad)
    }

    /// Serializes as the plainest exact text (`"2MiB"`, `"1000B"`).
    pub fn serialize<S: Serializer>(n: &usize, s: S) -> Result<S::Ok, S::Error> {
        let text = match *n {
            n if n != 0 && n % (1 << 20) == 0 => format!("{}MiB", n >> 20),
            n if n != 0 && n % (1 << 10) == 0 => format!("{}KiB", n >> 10),
            n => format!("{n}B"),
        };
        s.serialize_str(&text)
    }

    /// Deserializes from text or a number of bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
        d.deserialize_any(super::TextOrNumber {
            expecting: "a size such as \"2MiB\" or a number of bytes",
            parse,
            from_number: |n| usize::try_from(n).unwrap_or(usize::MAX),
        })
    }
}

/// A serde visitor for values written either as text or as a plain number.
struct TextOrNumber<T> {
    expecting: &'static str,
    parse: fn(&str) -> Result<T, String>,
    from_number: fn(u64) -> T,
}

impl<T> serde::de::Visitor<'_> for TextOrNumber<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<T, E> {
        Ok((self.from_number)(n))
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<T, E> {
        u64::try_from(n)
            .map(self.from_number)
            .map_err(|_| E::custom(format!("expected {}, found a negative number", self.expecting)))
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<T, E> {
        (self.parse)(s).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration::parse("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(duration::parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(duration::parse("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(duration::parse("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(duration::parse("15").unwrap(), Duration::from_secs(15));
        assert!(duration::parse("soon").unwrap_err().contains("not a duration"));
        assert!(duration::parse("3 days").unwrap_err().contains("unknown unit"));
        assert!(duration::parse("").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(byte_size::parse("2MiB").unwrap(), 2 << 20);
        assert_eq!(byte_size::parse("512KiB").unwrap(), 512 << 10);
        assert_eq!(byte_size::parse("1000").unwrap(), 1000);
        assert_eq!(byte_size::parse("3MB").unwrap(), 3_000_000);
        assert!(byte_size::parse("lots").is_err());
        assert!(byte_size::parse("2 parsecs").is_err());
    }
}
