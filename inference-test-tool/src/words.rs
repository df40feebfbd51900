//! Counts in words, for everything the tool prints and writes.

/// `1 image`, `2 images`, `0 images`: a count with its noun in the right number.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
