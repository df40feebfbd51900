//! Where a key of a config file is, for messages: the YAML reader gives the place of what it
//! cannot read; a rule broken by a value is placed here, by finding its key in the text.

/// `:line:column` of a YAML error, 1-based, when it has a place.
pub(super) fn at(e: &serde_yaml_ng::Error) -> String {
    e.location().map(|l| format!(":{}:{}", l.line(), l.column())).unwrap_or_default()
}

/// The YAML reader's message without the ` at line L column C` it appends.
pub(super) fn without_location(e: &serde_yaml_ng::Error) -> String {
    let text = e.to_string();
    match e.location() {
        Some(l) => {
            let suffix = format!(" at line {} column {}", l.line(), l.column());
            text.strip_suffix(&suffix).map(str::to_owned).unwrap_or(text)
        }
        None => text,
    }
}

/// The 1-based line and column of `key` (`models[1].input.size`) in `text`, or of the
/// deepest part of it found (a missing key is placed at its block). Each part is looked for
/// after the one before; `name[i]` finds the (i+1)-th occurrence of the next part after
/// `name`. A best effort for messages, not a YAML parser.
pub(super) fn locate(text: &str, key: &str) -> Option<(usize, usize)> {
    let parts: Vec<(&str, usize)> = key
        .split('.')
        .map(|p| match p.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse().unwrap_or(0)),
            None => (p, 0),
        })
        .collect();
    let mut from = 0;
    let mut found = None;
    let mut skip = 0;
    for (name, index) in parts {
        let mut at = None;
        let mut cursor = from;
        for _ in 0..=skip {
            match find_key(text, cursor, name) {
                Some(p) => {
                    at = Some(p);
                    cursor = p + name.len();
                }
                None => {
                    at = None;
                    break;
                }
            }
        }
        let Some(p) = at else { break };
        found = Some(p);
        from = p + name.len();
        skip = index;
    }
    found.map(|p| {
        let before = &text[..p];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    })
}

/// The byte offset of the next `name:` at or after `from` that starts a key (not inside a
/// longer word).
fn find_key(text: &str, from: usize, name: &str) -> Option<usize> {
    let mut start = from;
    while let Some(rel) = text.get(start..)?.find(name) {
        let p = start + rel;
        let before = text[..p].chars().next_back();
        let after = text[p + name.len()..].trim_start_matches([' ', '\t']);
        let starts_word = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        if starts_word && after.starts_with(':') {
            return Some(p);
        }
        start = p + name.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::locate;

    #[test]
    fn keys_are_found_in_block_and_flow_styles() {
        let text = "models:\n  - route: /a\n    input: {layout: NCHW, size: [8]}\n  - route: /b\n    input:\n      size: [0, 8]\n";
        assert_eq!(locate(text, "models[1].input.size"), Some((6, 7)));
        assert_eq!(locate(text, "models[0].input.size"), Some((3, 27)));
        assert_eq!(locate(text, "models[1].route"), Some((4, 5)));
        // A missing key is placed at its block.
        assert_eq!(locate(text, "models[1].model"), Some((1, 1)));
        assert_eq!(locate("input: {}\n", "outputs"), None);
    }
}
