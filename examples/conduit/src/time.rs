//! Timestamps as the API shows them: ISO 8601 in UTC with microseconds
//! (`2016-02-18T03:22:56.637123Z`), so an update right after a create still changes
//! `updatedAt`. Stored as that text: all the same width, so they sort by time.

use std::num::NonZeroU8;

use trestle::time::format_description::well_known::iso8601::{Config, EncodedConfig, TimePrecision};
use trestle::time::format_description::well_known::Iso8601;

/// `YYYY-MM-DDTHH:MM:SS.uuuuuuZ`.
const FORMAT: EncodedConfig =
    Config::DEFAULT.set_time_precision(TimePrecision::Second { decimal_digits: NonZeroU8::new(6) }).encode();

/// Now, as `YYYY-MM-DDTHH:MM:SS.uuuuuuZ`.
pub fn now() -> String {
    trestle::time::OffsetDateTime::now_utc().format(&Iso8601::<FORMAT>).unwrap_or_default()
}
