// Copyright (C) 2017 1aim GmbH
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
// http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

//! The parser's own patterns, as the stock crate wrote them for `regex` (Unicode classes,
//! case-insensitive extensions; moved here from `consts.rs`, PATCHED.md change 7).
//!
//! `build.rs` includes this file and translates each pattern with `regex-syntax` into what
//! `regex-lite` runs: Unicode classes and case folding written out as explicit ranges,
//! exactly as `regex` would have compiled them. The two character classes become range tables
//! looked up without any regex. The library runs only the translations
//! (`translated`); the sources are public for the test that checks each translation against
//! `regex` (`shared/tests/phone_metadata.rs`).

/// Regular expression of acceptable punctuation found in phone numbers. This
/// excludes punctuation found as a leading character only.
///
/// This consists of dash characters, white space characters, full stops,
/// slashes, square brackets, parentheses and tildes. It also includes the
/// letter 'x' as that is found as a placeholder for carrier information in
/// some phone numbers. Full-width variants are also present.
pub const VALID_PUNCTUATION: &str = r"-x\x{2010}-\x{2015}\x{2212}\x{30FC}\x{FF0D}-\x{FF0F} \x{00A0}\x{00AD}\x{200B}\x{2060}\x{3000}()\x{FF08}\x{FF09}\x{FF3B}\x{FF3D}.\[\]/~\x{2053}\x{223C}\x{FF5E}";

/// Pattern for digits.
pub const DIGITS: &str = r"\p{Nd}";

/// Plus characters.
pub const PLUS_CHARS: &str = r"\+\x{FF0B}";

pub const RFC3966_EXTN_PREFIX: &str = ";ext=";

/// Regexp of all possible ways to write extensions, for use when parsing.
/// This will be run as a case-insensitive regexp match. Wide character
/// versions are also provided after each ASCII version.
///
/// For parsing, we are slightly more lenient in our interpretation than for
/// matching. Here we allow "comma" and "semicolon" as possible extension
/// indicators. When matching, these are hardly ever used to indicate this.
pub fn extn_patterns_for_parsing() -> String {
    // Pattern to capture digits used in an extension. Places a maximum length of "7" for an
    // extension.
    let capturing_extn_digits = format!("({}{{0,7}})", DIGITS);
    format!(
        r"{rfc3966_extn_prefix}{capturing_extn_digits}|[ \x{{00A0}}\t,]*(?:e?xt(?:ensi(?:o\x{{0301}}?|\x{{00F3}}))?n?|\x{{FF45}}?\x{{FF58}}\x{{FF54}}\x{{FF4E}}?|[{symbols}]|int|anexo|\x{{FF49}}\x{{FF4E}}\x{{FF54}})[:\.\x{{FF0E}}]?[ \x{{00A0}}\t,-]*{capturing_extn_digits}#?|[- ]+({digits}{{1,5}})#",
        rfc3966_extn_prefix = RFC3966_EXTN_PREFIX,
        capturing_extn_digits = capturing_extn_digits,
        symbols = r",;x\x{FF58}#\x{FF03}~\x{FF5E}",
        digits = DIGITS
    )
}

/// A pattern the library runs with `regex-lite`: its name in `translated`, its source for
/// `regex`, and whether `regex` ran it case-insensitively.
pub struct Source {
    pub name: &'static str,
    pub pattern: String,
    pub case_insensitive: bool,
}

/// The patterns the parser and formatter run.
pub fn regexes() -> Vec<Source> {
    vec![
        // Regexp of all known extension prefixes used by different regions followed by 1 or
        // more valid digits, for use when parsing.
        Source {
            name: "EXTN_PATTERN",
            pattern: format!(r"(?:{})$", extn_patterns_for_parsing()),
            case_insensitive: true,
        },
        Source {
            name: "SEPARATOR_PATTERN",
            pattern: format!("[{}]+", VALID_PUNCTUATION),
            case_insensitive: false,
        },
        // Regular expression of characters typically used to start a second phone number for
        // the purposes of parsing: (530) 583-6985 x302/x2303 -> (530) 583-6985 x302.
        Source { name: "SECOND_NUMBER_START", pattern: r"[\\/] *x".into(), case_insensitive: false },
        // The first group of a format: `\d`, not `1`, since some countries (Argentina) do not
        // use their first group in the national pattern.
        Source { name: "FIRST_GROUP", pattern: r"(\$\d)".into(), case_insensitive: false },
    ]
}

/// The character classes the parser tests characters against, one at a time.
pub fn classes() -> Vec<(&'static str, String)> {
    vec![
        // Characters that may start a phone number for the purposes of parsing: digits and the
        // plus signs. Anything before the first one is stripped.
        ("VALID_START_CHAR", format!("[{}{}]", PLUS_CHARS, DIGITS)),
        // Trailing characters that are removed: all but letters and numbers. The hash is
        // kept, as it may signify the previous block was an extension.
        ("UNWANTED_END_CHAR", r"[[\P{N}&&\P{L}]&&[^#]]".into()),
    ]
}
