//! The policy every new password must meet (docs/api.md section 4): 8 to 128 characters, not entirely
//! numeric, not a common password, not the email or its local part. The rules and messages
//! follow Django's password validators, whose common-password list the project ships.

/// Django's list of 20,000 common passwords, lower-cased and sorted by bytes (see
/// `shared/data/README.md`), so a check is a binary search and start-up builds nothing.
const COMMON_PASSWORDS: &str = include_str!("../../data/common-passwords.txt");

pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 128;

/// Which rule a new password breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakness {
    TooShort,
    TooLong,
    EntirelyNumeric,
    TooCommon,
    TooSimilarToEmail,
}

impl Weakness {
    /// The `weak_password` message: says which rule failed.
    pub fn message(&self) -> &'static str {
        match self {
            Weakness::TooShort => "This password is too short. It must contain at least 8 characters.",
            Weakness::TooLong => "This password is too long. It must contain at most 128 characters.",
            Weakness::EntirelyNumeric => "This password is entirely numeric.",
            Weakness::TooCommon => "This password is too common.",
            Weakness::TooSimilarToEmail => "The password is too similar to the email.",
        }
    }
}

/// Checks a new password; `email` is the customer's, when there is one.
pub fn check_new_password(password: &str, email: Option<&str>) -> Result<(), Weakness> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(Weakness::TooShort);
    }
    if length > MAX_LENGTH {
        return Err(Weakness::TooLong);
    }
    if password.chars().all(|c| c.is_ascii_digit()) {
        return Err(Weakness::EntirelyNumeric);
    }
    if is_common(password) {
        return Err(Weakness::TooCommon);
    }
    if email.is_some_and(|email| resembles_email(password, email)) {
        return Err(Weakness::TooSimilarToEmail);
    }
    Ok(())
}

/// Whether the password, trimmed and lower-cased as Django compares it, is on the list.
pub fn is_common(password: &str) -> bool {
    let candidate = password.trim().to_lowercase();
    sorted_lines_contain(
        COMMON_PASSWORDS.strip_suffix('\n').unwrap_or(COMMON_PASSWORDS).as_bytes(),
        candidate.as_bytes(),
    )
}

/// Binary search of `text`, lines sorted by bytes, for the line `wanted`, in place: each probe
/// reads the line around a byte offset. No index is built, so a process's first check costs
/// what every other does (an index of the 19,729 lines was a 316 KB `Vec` made on first use).
fn sorted_lines_contain(text: &[u8], wanted: &[u8]) -> bool {
    // The lines starting in `low..high` are the candidates; `low` is always a line's start.
    let (mut low, mut high) = (0, text.len());
    while low < high {
        let middle = low + (high - low) / 2;
        let start = text[low..middle].iter().rposition(|&b| b == b'\n').map_or(low, |i| low + i + 1);
        let end = text[start..].iter().position(|&b| b == b'\n').map_or(text.len(), |i| start + i);
        match text[start..end].cmp(wanted) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => low = end + 1,
            std::cmp::Ordering::Greater => high = start,
        }
    }
    false
}

/// The password is the email or its local part, or contains the local part (`anna.smith` in
/// `Anna.Smith2024`), compared without case. Local parts shorter than 4 characters only count
/// when the password is exactly that, so `al@x.io` does not forbid every password with "al".
fn resembles_email(password: &str, email: &str) -> bool {
    let password = password.trim().to_lowercase();
    let email = email.trim().to_lowercase();
    let local = email.split('@').next().unwrap_or_default();
    if password == email || password == local {
        return true;
    }
    local.chars().count() >= 4 && password.contains(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_list_is_large_sorted_and_lower_case() {
        let list: Vec<&str> = COMMON_PASSWORDS.lines().collect();
        assert!(list.len() >= 10_000, "{} entries", list.len());
        assert!(list.windows(2).all(|pair| pair[0].as_bytes() < pair[1].as_bytes()), "not sorted or has duplicates");
        assert!(list.iter().all(|entry| *entry == entry.to_lowercase() && !entry.is_empty()));
    }

    #[test]
    fn every_listed_password_is_found_and_its_neighbours_are_not() {
        let list: Vec<&str> = COMMON_PASSWORDS.lines().collect();
        for (i, entry) in list.iter().enumerate() {
            assert!(is_common(entry), "{entry} not found");
            // Between this entry and the next by bytes, never on the list.
            let after = format!("{entry}\u{1}");
            assert!(list.get(i + 1).is_none_or(|next| after.as_str() < *next), "{after:?} would be listed");
            assert!(!is_common(&after), "{after:?} found");
        }
        for outside in ["", "\u{1}", "\u{10ffff}", "zzzzzzzzzzzzzzzzzzzz", "a\nb"] {
            assert!(!is_common(outside), "{outside:?} found");
        }
    }

    #[test]
    fn a_search_of_sorted_lines_finds_each_line_and_only_those() {
        let text = b"b\nd\nf";
        for (wanted, found) in
            [("a", false), ("b", true), ("c", false), ("d", true), ("e", false), ("f", true), ("g", false)]
        {
            assert_eq!(sorted_lines_contain(text, wanted.as_bytes()), found, "{wanted}");
        }
        assert!(!sorted_lines_contain(b"", b"a"));
        assert!(sorted_lines_contain(b"only", b"only"));
    }

    #[test]
    fn every_rule_is_named() {
        assert_eq!(check_new_password("short1!", None), Err(Weakness::TooShort));
        assert_eq!(check_new_password(&"a1".repeat(65), None), Err(Weakness::TooLong));
        assert_eq!(check_new_password("1234567890123", None), Err(Weakness::EntirelyNumeric));
        assert_eq!(check_new_password("Password1", None), Err(Weakness::TooCommon));
        assert_eq!(check_new_password(" QWERTYUIOP ", None), Err(Weakness::TooCommon));
        assert_eq!(
            check_new_password("anna.smith@example.com", Some("Anna.Smith@example.com")),
            Err(Weakness::TooSimilarToEmail)
        );
        assert_eq!(check_new_password("anna.smith", Some("anna.smith@example.com")), Err(Weakness::TooSimilarToEmail));
        assert_eq!(
            check_new_password("Anna.Smith#2024", Some("anna.smith@example.com")),
            Err(Weakness::TooSimilarToEmail)
        );
        assert_eq!(check_new_password("violet-otter-kettle", Some("anna.smith@example.com")), Ok(()));
        assert_eq!(check_new_password("violet-otter-kettle", None), Ok(()));
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert_eq!(check_new_password("ünïcødé", None), Err(Weakness::TooShort));
        assert_eq!(check_new_password("ünïcødé!x", None), Ok(()));
        assert_eq!(check_new_password(&"é".repeat(128), None), Ok(()));
    }

    #[test]
    fn short_local_parts_only_forbid_themselves() {
        assert_eq!(check_new_password("always-green-tea", Some("al@x.io")), Ok(()));
    }
}
