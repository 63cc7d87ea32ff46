//! TEMPORARY STUB written by the lead so the crate compiles while the password-policy work is
//! in progress; the helper replaces this whole file.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakness {
    TooShort,
    TooLong,
    EntirelyNumeric,
    TooCommon,
    TooSimilarToEmail,
}

impl Weakness {
    pub fn message(&self) -> &'static str {
        "This password is too weak."
    }
}

pub fn check_new_password(password: &str, _email: Option<&str>) -> Result<(), Weakness> {
    if password.chars().count() < 8 { Err(Weakness::TooShort) } else { Ok(()) }
}
