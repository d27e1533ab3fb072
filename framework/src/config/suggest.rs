//! "Did you mean" for unknown config keys.

/// The known key closest to `unknown`, when it is close enough to be a typo.
pub(crate) fn closest<'a>(unknown: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (unknown.len() / 3).max(2);
    known
        .into_iter()
        .map(|k| (distance(unknown, k), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over chars.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_keys_only() {
        let known = ["server.port", "server.host", "telemetry.filter"];
        assert_eq!(closest("server.prot", known), Some("server.port"));
        assert_eq!(closest("sever.host", known), Some("server.host"));
        assert_eq!(closest("database.url", known), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
