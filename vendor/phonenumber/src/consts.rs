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

#![allow(unused)]

use fnv::{FnvHashMap, FnvHashSet};
use once_cell::sync::Lazy;
use regex_lite::Regex;

/// The minimum length of the National Significant Number.
pub const MIN_LENGTH_FOR_NSN: usize = 2;

/// The maximum length of the National Significant Number.
pub const MAX_LENGTH_FOR_NSN: usize = 17;

/// The maximum length of the country calling code.
pub const MAX_LENGTH_FOR_COUNTRY_CODE: usize = 3;

/// Region-code for the unknown region.
pub const UNKNOWN_REGION: &str = "ZZ";

pub const NANPA_COUNTRY_CODE: u32 = 1;

/// The prefix that needs to be inserted in front of a Colombian landline
/// number when dialed from a mobile phone in Colombia.
pub const COLOMBIA_MOBILE_TO_FIXED_LINE_PREFIX: &str = "3";

pub const PLUS_SIGN: char = '+';
pub const STAR_SIGN: char = '*';
pub const SHARP_SIGN: char = '#';

pub use crate::parser_patterns::RFC3966_EXTN_PREFIX;
pub const RFC3966_PREFIX: &str = "tel:";
pub const RFC3966_PHONE_CONTEXT: &str = ";phone-context=";
pub const RFC3966_ISDN_SUBADDRESS: &str = ";isub=";

pub const REGION_CODE_FOR_NON_GEO_ENTITY: &str = "001";

/// Map of country calling codes that use a mobile token before the area code. One example of when
/// this is relevant is when determining the length of the national destination code, which should
/// be the length of the area code plus the length of the mobile token.
pub static MOBILE_TOKEN_MAPPINGS: Lazy<FnvHashMap<u16, &'static str>> = Lazy::new(|| {
    let mut map = FnvHashMap::default();
    map.insert(52, "1");
    map.insert(54, "9");
    map
});

/// Set of country codes that have geographically assigned mobile numbers
/// (see GEO_MOBILE_COUNTRIES below) which are not based on *area codes*. For
/// example, in China mobile numbers start with a carrier indicator, and
/// beyond that are geographically assigned: this carrier indicator is not
/// considered to be an area code.
pub static GEO_MOBILE_COUNTRIES_WITHOUT_MOBILE_AREA_CODES: Lazy<FnvHashSet<u16>> =
    Lazy::new(|| {
        let mut set = FnvHashSet::default();
        set.insert(86); // China
        set
    });

/// Set of country calling codes that have geographically assigned mobile
/// numbers. This may not be complete; we add calling codes case by case, as
/// we find geographical mobile numbers or hear from user reports. Note that
/// countries like the US, where we can't distinguish between fixed-line or
/// mobile numbers, are not listed here, since we consider
/// FIXED_LINE_OR_MOBILE to be a possibly geographically-related type anyway
/// (like FIXED_LINE).
pub static GEO_MOBILE_COUNTRIES: Lazy<FnvHashSet<u16>> = Lazy::new(|| {
    let mut set = FnvHashSet::default();
    set.insert(52); // Mexico
    set.insert(54); // Argentina
    set.insert(55); // Brazil
    set.insert(62); // Indonesia: some prefixes only (fixed CMDA wireless)
    set.extend(GEO_MOBILE_COUNTRIES_WITHOUT_MOBILE_AREA_CODES.iter());
    set
});

/// Helper ASCII mappings.
pub static ASCII_MAPPINGS: Lazy<FnvHashMap<char, char>> = Lazy::new(|| {
    let mut map = FnvHashMap::default();
    map.insert('0', '0');
    map.insert('1', '1');
    map.insert('2', '2');
    map.insert('3', '3');
    map.insert('4', '4');
    map.insert('5', '5');
    map.insert('6', '6');
    map.insert('7', '7');
    map.insert('8', '8');
    map.insert('9', '9');
    map
});

/// A map that contains characters that are essential when dialling. That
/// means any of the characters in this map must not be removed from a number
/// when dialling, otherwise the call will not reach the intended
/// destination.
pub static DIALLABLE_CHAR_MAPPINGS: Lazy<FnvHashMap<char, char>> = Lazy::new(|| {
    let mut map = FnvHashMap::default();
    map.extend(ASCII_MAPPINGS.iter());
    map.insert(PLUS_SIGN, PLUS_SIGN);
    map.insert(STAR_SIGN, STAR_SIGN);
    map.insert(SHARP_SIGN, SHARP_SIGN);
    map
});

/// Only upper-case variants of alpha characters are stored.
pub static ALPHA_MAPPINGS: Lazy<FnvHashMap<char, char>> = Lazy::new(|| {
    let mut map = FnvHashMap::default();
    map.insert('A', '2');
    map.insert('B', '2');
    map.insert('C', '2');
    map.insert('D', '3');
    map.insert('E', '3');
    map.insert('F', '3');
    map.insert('G', '4');
    map.insert('H', '4');
    map.insert('I', '4');
    map.insert('J', '5');
    map.insert('K', '5');
    map.insert('L', '5');
    map.insert('M', '6');
    map.insert('N', '6');
    map.insert('O', '6');
    map.insert('P', '7');
    map.insert('Q', '7');
    map.insert('R', '7');
    map.insert('S', '7');
    map.insert('T', '8');
    map.insert('U', '8');
    map.insert('V', '8');
    map.insert('W', '9');
    map.insert('X', '9');
    map.insert('Y', '9');
    map.insert('Z', '9');

    map.insert('a', '2');
    map.insert('b', '2');
    map.insert('c', '2');
    map.insert('d', '3');
    map.insert('e', '3');
    map.insert('f', '3');
    map.insert('g', '4');
    map.insert('h', '4');
    map.insert('i', '4');
    map.insert('j', '5');
    map.insert('k', '5');
    map.insert('l', '5');
    map.insert('m', '6');
    map.insert('n', '6');
    map.insert('o', '6');
    map.insert('p', '7');
    map.insert('q', '7');
    map.insert('r', '7');
    map.insert('s', '7');
    map.insert('t', '8');
    map.insert('u', '8');
    map.insert('v', '8');
    map.insert('w', '9');
    map.insert('x', '9');
    map.insert('y', '9');
    map.insert('z', '9');

    map
});

/// For performance reasons, amalgamate both into one map.
pub static ALPHA_PHONE_MAPPINGS: Lazy<FnvHashMap<char, char>> = Lazy::new(|| {
    let mut map = FnvHashMap::default();
    map.extend(ASCII_MAPPINGS.iter());
    map.extend(ALPHA_MAPPINGS.iter());
    map
});

/// Separate map of all symbols that we wish to retain when formatting alpha
/// numbers. This includes digits, ASCII letters and number grouping symbols
/// such as "-" and " ".
pub static ALL_PLUS_NUMBER_GROUPING_SYMBOLS: Lazy<FnvHashMap<char, char>> = Lazy::new(|| {
    let mut map = FnvHashMap::default();

    for &c in ALPHA_MAPPINGS.keys() {
        map.insert(c, c);
        map.insert(c.to_lowercase().next().unwrap(), c);
    }

    map.extend(ASCII_MAPPINGS.iter());

    map.insert('-', '-');
    map.insert('\u{FF0D}', '-');
    map.insert('\u{2010}', '-');
    map.insert('\u{2011}', '-');
    map.insert('\u{2012}', '-');
    map.insert('\u{2013}', '-');
    map.insert('\u{2014}', '-');
    map.insert('\u{2015}', '-');
    map.insert('\u{2212}', '-');
    map.insert('/', '/');
    map.insert('\u{FF0F}', '/');
    map.insert(' ', ' ');
    map.insert('\u{3000}', ' ');
    map.insert('\u{2060}', ' ');
    map.insert('.', '.');
    map.insert('\u{FF0E}', '.');

    map
});

pub use crate::parser_patterns::{DIGITS, PLUS_CHARS, VALID_PUNCTUATION};

/// The parser's patterns and classes as `build.rs` translated them for `regex-lite`
/// (`src/parser_patterns.rs` has their sources and what each is for).
pub mod translated {
    include!(concat!(env!("OUT_DIR"), "/parser_patterns.rs"));
}

pub static SEPARATOR_PATTERN: Lazy<Regex> =
    Lazy::new(|| Regex::new(translated::SEPARATOR_PATTERN).unwrap());

pub static SECOND_NUMBER_START: Lazy<Regex> =
    Lazy::new(|| Regex::new(translated::SECOND_NUMBER_START).unwrap());

/// Regexp of all known extension prefixes used by different regions followed
/// by 1 or more valid digits, for use when parsing (case-insensitive).
pub static EXTN_PATTERN: Lazy<Regex> =
    Lazy::new(|| Regex::new(translated::EXTN_PATTERN).unwrap());

pub static FIRST_GROUP: Lazy<Regex> = Lazy::new(|| Regex::new(translated::FIRST_GROUP).unwrap());

/// Whether a phone number may start with `c` for the purposes of parsing: a digit or a plus
/// sign. This allows us to strip away meaningless prefixes to phone numbers that may be
/// mistakenly given to us.
pub fn is_valid_start_char(c: char) -> bool {
    in_class(translated::VALID_START_CHAR, c)
}

/// Whether `c` is removed from the end of a number: all but letters, numbers and the hash,
/// which may signify the previous block was an extension.
pub fn is_unwanted_end_char(c: char) -> bool {
    in_class(translated::UNWANTED_END_CHAR, c)
}

/// Whether `c` is in one of the sorted, disjoint `ranges`.
fn in_class(ranges: &[(char, char)], c: char) -> bool {
    ranges
        .binary_search_by(|&(start, end)| {
            if end < c {
                std::cmp::Ordering::Less
            } else if start > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

pub const NP: &str = "$NP";
pub const FG: &str = "$FG";
pub const CC: &str = "$CC";

/// A pattern that is used to determine if the national prefix formatting
/// rule has the first group only, i.e., does not start with the national
/// prefix. Note that the pattern explicitly allows for unbalanced
/// parentheses.
pub static FIRST_GROUP_ONLY_PREFIX: Lazy<Regex> = Lazy::new(|| Regex::new(r"\(?\$1\)?").unwrap());
