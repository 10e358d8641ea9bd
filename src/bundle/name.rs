//! Job names: `^[A-Za-z0-9][A-Za-z0-9_-]*$`, at most 64 characters (the
//! portal's rule; Kudu itself checks nothing, and names become folder names).

use super::BundleError;

/// Longest accepted job name.
pub const MAX_NAME_LEN: usize = 64;

/// Checks a job name, saying what is wrong with it.
pub fn validate(name: &str) -> Result<(), BundleError> {
    let bad = |why: &str| Err(BundleError::InvalidName(name.to_string(), why.to_string()));
    let Some(first) = name.chars().next() else {
        return bad("it is empty");
    };
    if name.len() > MAX_NAME_LEN {
        return bad(&format!("it is longer than {MAX_NAME_LEN} characters"));
    }
    if !first.is_ascii_alphanumeric() {
        return bad("it must start with a letter or a digit");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return bad(&format!(
            "it contains {c:?}; only letters, digits, '-' and '_' are allowed"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_portal_names() {
        for n in ["a", "hello", "Job-1_x", "9lives", &"x".repeat(64)] {
            validate(n).unwrap();
        }
    }

    #[test]
    fn rejects_bad_names() {
        for n in [
            "",
            "-a",
            "_a",
            "a b",
            "a/b",
            "..",
            "a.b",
            "é",
            &"x".repeat(65),
            "a\0",
        ] {
            assert!(validate(n).is_err(), "{n:?} accepted");
        }
    }
}
