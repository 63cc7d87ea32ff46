//! The checks the patched `phonenumber` no longer makes on every cold start, and the proof that
//! its patches change no result (see `vendor/phonenumber/PATCHED.md`):
//! - every pattern of the built-in metadata compiles with `regex-lite` and the flags the
//!   patched crate uses, and matches digit strings exactly as `regex` did with the stock
//!   crate's flags (Unicode classes);
//! - the built-in patterns, stored without the XML's whitespace, match exactly as the XML's;
//! - the parser's own patterns, translated at build time for `regex-lite`, match exactly as
//!   their sources did with `regex`, and its two character classes hold exactly the
//!   characters `regex` put in them;
//! - the anchored matches that replaced "does the leftmost match start at 0" answer alike.
use phonenumber::metadata::{DATABASE, Descriptor};

fn descriptors(metadata: &phonenumber::Metadata) -> Vec<&Descriptor> {
    let all = metadata.descriptors();
    let optional = [
        all.fixed_line(),
        all.mobile(),
        all.toll_free(),
        all.premium_rate(),
        all.shared_cost(),
        all.personal_number(),
        all.voip(),
        all.pager(),
        all.uan(),
        all.emergency(),
        all.voicemail(),
        all.short_code(),
        all.standard_rate(),
        all.carrier(),
        all.no_international(),
    ];
    std::iter::once(all.general()).chain(optional.into_iter().flatten()).collect()
}

/// Every pattern of one region, in a fixed order.
fn patterns_of(metadata: &phonenumber::Metadata) -> Vec<String> {
    let mut patterns: Vec<String> =
        descriptors(metadata).iter().map(|descriptor| descriptor.national_number().as_str().to_string()).collect();
    patterns.extend(metadata.international_prefix().map(|r| r.as_str().to_string()));
    patterns.extend(metadata.national_prefix_for_parsing().map(|r| r.as_str().to_string()));
    patterns.extend(metadata.leading_digits().map(|r| r.as_str().to_string()));
    for format in metadata.formats().iter().chain(metadata.international_formats()) {
        patterns.push(format.pattern().as_str().to_string());
        patterns.extend(format.leading_digits().iter().map(|r| r.as_str().to_string()));
    }
    patterns
}

/// Every example number of one region.
fn examples_of(metadata: &phonenumber::Metadata) -> Vec<String> {
    descriptors(metadata).iter().filter_map(|descriptor| descriptor.example().map(str::to_string)).collect()
}

/// Every distinct pattern of the built-in metadata, and every example number it gives.
fn patterns_and_examples() -> (Vec<String>, Vec<String>) {
    let mut patterns: Vec<String> = DATABASE.iter().flat_map(patterns_of).collect();
    let examples = DATABASE.iter().flat_map(examples_of).collect();
    patterns.sort();
    patterns.dedup();
    (patterns, examples)
}

/// Example numbers, then 204 pseudo-random digit strings of 1 to 17 digits.
fn haystacks(mut examples: Vec<String>) -> Vec<String> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for length in 1..=17 {
        for _ in 0..12 {
            let digits: String = (0..length)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    char::from(b'0' + (state % 10) as u8)
                })
                .collect();
            examples.push(digits);
        }
    }
    examples
}

type Groups = Option<Vec<Option<std::ops::Range<usize>>>>;

/// Where each group of `re` matched in `haystack`, by `regex` (as the stock crate ran patterns).
fn captures(re: &regex::Regex, haystack: &str) -> Groups {
    re.captures(haystack).map(|c| c.iter().map(|m| m.map(|m| m.range())).collect())
}

/// The same by `regex-lite` (as the patched crate runs them).
fn lite_captures(re: &regex_lite::Regex, haystack: &str) -> Groups {
    re.captures(haystack).map(|c| c.iter().map(|m| m.map(|m| m.range())).collect())
}

/// The engine and flags `vendor/phonenumber/src/metadata/database.rs` compiles metadata
/// patterns with: `regex-lite`, whose classes are ASCII-only, in verbose mode.
fn compile_as_patched(pattern: &str) -> Result<regex_lite::Regex, regex_lite::Error> {
    regex_lite::RegexBuilder::new(pattern).ignore_whitespace(true).build()
}

#[test]
fn every_pattern_of_the_phone_metadata_compiles() {
    let (patterns, _) = patterns_and_examples();
    let broken: Vec<&String> = patterns.iter().filter(|pattern| compile_as_patched(pattern).is_err()).collect();
    assert!(DATABASE.iter().count() > 200, "regions");
    assert!(patterns.len() > 2_000, "{} distinct patterns", patterns.len());
    assert_eq!(broken, Vec::<&String>::new(), "of {} patterns", patterns.len());
}

/// The crate matches metadata patterns only against normalized numbers (ASCII digits), so
/// `regex-lite` with its ASCII `\d` (what libphonenumber's Java regexes mean too) must find
/// exactly what `regex` with Unicode `\d` found: same match, same place, same groups, for every
/// example number of every region and a spread of other digit strings.
#[test]
fn regex_lite_matches_digits_exactly_as_regex_with_unicode_classes_did() {
    let (patterns, examples) = patterns_and_examples();
    let haystacks = haystacks(examples);
    let mut differences = Vec::new();
    for pattern in &patterns {
        let unicode = regex::RegexBuilder::new(pattern).ignore_whitespace(true).build().expect("compiles");
        let ascii = compile_as_patched(pattern).expect("compiles");
        for haystack in &haystacks {
            if captures(&unicode, haystack) != lite_captures(&ascii, haystack) {
                differences.push((pattern.clone(), haystack.clone()));
            }
        }
    }
    assert!(haystacks.len() > 1_000, "{} haystacks", haystacks.len());
    assert_eq!(differences, Vec::new());
}

/// The built-in metadata stores each pattern without the whitespace of the XML it is built
/// from (change 5 of PATCHED.md): region by region, each is the XML's pattern with whitespace
/// removed, and it finds exactly what the XML's pattern found, with the same groups.
#[test]
fn built_in_patterns_are_the_xml_patterns_without_their_whitespace() {
    let xml =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../vendor/phonenumber/assets/PhoneNumberMetadata.xml");
    let from_xml = phonenumber::metadata::Database::load(xml).expect("the XML metadata loads");
    let mut pairs = Vec::new();
    for built_in in DATABASE.iter() {
        // By country code and ID: the non-geographic entities share the ID 001.
        let loaded = from_xml
            .by_code(&built_in.country_code())
            .and_then(|regions| regions.into_iter().find(|region| region.id() == built_in.id()))
            .unwrap_or_else(|| panic!("{} +{} in the XML", built_in.id(), built_in.country_code()));
        let (stored, original) = (patterns_of(built_in), patterns_of(loaded));
        assert_eq!(stored.len(), original.len(), "{}", built_in.id());
        for (stored, original) in stored.into_iter().zip(original) {
            let stripped: String = original.chars().filter(|c| !c.is_whitespace()).collect();
            assert_eq!(stored, stripped, "{}", built_in.id());
            // Verbose mode ignores whitespace unless escaped, and `#` would start a comment.
            assert!(!original.contains('#') && !original.contains("\\ ") && !original.contains("\\\n"), "{original}");
            pairs.push((stored, original));
        }
    }
    assert!(pairs.iter().any(|(stored, original)| stored.len() < original.len()), "nothing was stripped");
    pairs.sort();
    pairs.dedup();
    let haystacks = haystacks(DATABASE.iter().flat_map(examples_of).collect());
    let mut differences = Vec::new();
    for (stored, original) in &pairs {
        let (stored_re, original_re) =
            (compile_as_patched(stored).expect("compiles"), compile_as_patched(original).expect("compiles"));
        for haystack in &haystacks {
            if lite_captures(&stored_re, haystack) != lite_captures(&original_re, haystack) {
                differences.push((stored.clone(), haystack.clone()));
            }
        }
    }
    assert_eq!(differences, Vec::new());
}

/// The parser's patterns as `build.rs` translated them, by name.
fn translated(name: &str) -> &'static str {
    use phonenumber::translated_parser_patterns as t;
    match name {
        "EXTN_PATTERN" => t::EXTN_PATTERN,
        "SEPARATOR_PATTERN" => t::SEPARATOR_PATTERN,
        "SECOND_NUMBER_START" => t::SECOND_NUMBER_START,
        "FIRST_GROUP" => t::FIRST_GROUP,
        other => panic!("no translation of {other}"),
    }
}

/// What the parser's patterns are run on: numbers as users type them, with extensions in
/// several scripts and cases, and pseudo-random strings over the characters the patterns
/// single out, their case variants (`ſ` folds to `s`, fullwidth capitals to fullwidth small
/// letters) and digits of other scripts.
fn parser_haystacks() -> Vec<String> {
    let typed = [
        "+1 650-253-0000 ext. 1234",
        "650 253 0000 x123",
        "650 253 0000 X 123#",
        "650 253 0000;ext=1234",
        "650 253 0000 EXTENSIÓN 12",
        "650 253 0000 extensio\u{301}n 12",
        "650 253 0000 EXTENſION 12",
        "650 253 0000 ＥＸＴ．１２３",
        "650 253 0000 ｅｘｔｎ 12",
        "650 253 0000 ＩＮＴ 5",
        "650 253 0000 anexo 7",
        "650 253 0000 ,12",
        "650 253 0000 #12",
        "650 253 0000 - 123#",
        "٠٨١٢٣٤٥٦٧٨٩٠ ext ٣",
        "(530) 583-6985 x302/x2303",
        "$1 $2 $3",
        "$NP $FG",
        "0812\u{a0}3456\u{2010}7890",
        "",
    ];
    let alphabet: Vec<&str> = vec![
        "0", "1", "5", "9", "٣", "३", "３", "𝟘", "e", "x", "t", "n", "s", "i", "o", "a", "E", "X", "T", "N", "S", "I",
        "O", "A", "k", "K", "\u{212a}", "ſ", "ó", "Ó", "\u{301}", "ｅ", "ｘ", "ｔ", "ｎ", "ｉ", "Ｅ", "Ｘ", "Ｔ", "Ｎ",
        "Ｉ", ",", ";", "#", "＃", "~", "～", "．", ".", ":", " ", "\u{a0}", "\t", "-", "‐", "/", "\\", "(", ")", "[",
        "]", "+", "$", ";ext=", "ext", "int", "anexo", "xtn",
    ];
    let mut haystacks: Vec<String> = typed.iter().map(|s| s.to_string()).collect();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    for _ in 0..20_000 {
        let length = next(16);
        haystacks.push((0..length).map(|_| alphabet[next(alphabet.len())]).collect());
    }
    haystacks
}

/// Each of the parser's patterns, run by `regex-lite` as translated at build time, finds what
/// `regex` found with the stock crate's pattern and flags: same matches, same groups, and the
/// same successive matches (`replace_all` of the formatter).
#[test]
fn parser_patterns_translated_for_regex_lite_match_as_regex_did() {
    let haystacks = parser_haystacks();
    let mut differences = Vec::new();
    let sources = phonenumber::parser_patterns::regexes();
    assert_eq!(sources.len(), 4);
    for source in sources {
        let stock = regex::RegexBuilder::new(&source.pattern)
            .case_insensitive(source.case_insensitive)
            .build()
            .expect("the stock pattern compiles");
        let patched = regex_lite::Regex::new(translated(source.name)).expect("the translation compiles");
        for haystack in &haystacks {
            let all_stock: Vec<_> = stock.find_iter(haystack).map(|m| m.range()).collect();
            let all_patched: Vec<_> = patched.find_iter(haystack).map(|m| m.range()).collect();
            if captures(&stock, haystack) != lite_captures(&patched, haystack) || all_stock != all_patched {
                differences.push((source.name, haystack.clone()));
            }
        }
    }
    assert_eq!(differences, Vec::new());
}

/// The parser's two character classes, looked up in the tables `build.rs` wrote, hold exactly
/// the characters `regex` put in the stock crate's classes: every Unicode scalar value.
#[test]
fn parser_character_classes_hold_what_regex_put_in_them() {
    let classes = phonenumber::parser_patterns::classes();
    assert_eq!(classes.len(), 2);
    for (name, class) in classes {
        let in_class: fn(char) -> bool = match name {
            "VALID_START_CHAR" => phonenumber::is_valid_start_char,
            "UNWANTED_END_CHAR" => phonenumber::is_unwanted_end_char,
            other => panic!("no table for {other}"),
        };
        let stock = regex::Regex::new(&format!(r"\A{class}\z")).expect("the stock class compiles");
        let mut buffer = [0; 4];
        let differences: Vec<char> = (0..=0x10_ffff)
            .filter_map(char::from_u32)
            .filter(|&c| stock.is_match(c.encode_utf8(&mut buffer)) != in_class(c))
            .collect();
        assert_eq!(differences, Vec::<char>::new(), "{name}");
        let (inside, outside) = if name == "VALID_START_CHAR" { ("+5٣", "a#-") } else { (" -)", "5٣a#") };
        assert!(inside.chars().all(in_class) && !outside.chars().any(in_class), "{name}");
    }
}

/// Every regex-bearing field of one region, as the library holds it.
fn cached_regexes_of(metadata: &phonenumber::Metadata) -> Vec<&regex_cache::CachedRegex> {
    let mut regexes: Vec<&regex_cache::CachedRegex> =
        descriptors(metadata).iter().map(|descriptor| descriptor.national_number()).collect();
    regexes.extend(metadata.international_prefix());
    regexes.extend(metadata.national_prefix_for_parsing());
    regexes.extend(metadata.leading_digits());
    for format in metadata.formats().iter().chain(metadata.international_formats()) {
        regexes.push(format.pattern());
        regexes.extend(format.leading_digits());
    }
    regexes
}

/// Where the crate asked whether the leftmost match starts at the start (a descriptor's
/// national number, a region's or a format's leading digits), the patched crate asks a regex
/// anchored there, which `regex-lite` answers without trying every start: for every distinct
/// pattern and every haystack, the answer is `regex`'s to the stock crate's question.
#[test]
fn anchored_matches_answer_as_the_leftmost_match_did() {
    let mut regexes: Vec<&regex_cache::CachedRegex> = DATABASE.iter().flat_map(cached_regexes_of).collect();
    regexes.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    regexes.dedup_by(|a, b| a.as_str() == b.as_str());
    let haystacks = haystacks(DATABASE.iter().flat_map(examples_of).collect());
    let mut differences = Vec::new();
    for cached in &regexes {
        let stock = regex::RegexBuilder::new(cached.as_str()).ignore_whitespace(true).build().expect("compiles");
        for haystack in &haystacks {
            let at_start = stock.find(haystack).is_some_and(|m| m.start() == 0);
            if cached.is_match_at_start(haystack) != at_start {
                differences.push((cached.as_str().to_string(), haystack.clone()));
            }
        }
    }
    assert!(regexes.len() > 2_000, "{} distinct patterns", regexes.len());
    assert_eq!(differences, Vec::new());
}
