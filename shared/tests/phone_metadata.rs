//! The check the patched `phonenumber` no longer makes on every cold start (see
//! `vendor/phonenumber/PATCHED.md`): every pattern of the built-in metadata compiles, with the
//! flags the patched crate compiles it with (ASCII classes); with those flags every pattern
//! matches digit strings exactly as it did with Unicode classes, the stock crate's flags; and
//! the built-in patterns, stored without the XML's whitespace, match exactly as the XML's.

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

fn captures(re: &regex::Regex, haystack: &str) -> Option<Vec<Option<std::ops::Range<usize>>>> {
    re.captures(haystack).map(|c| c.iter().map(|m| m.map(|m| m.range())).collect())
}

/// The flags `vendor/phonenumber/src/metadata/database.rs` compiles metadata patterns with.
fn compile_as_patched(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern).ignore_whitespace(true).unicode(false).build()
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
/// ASCII `\d` (what libphonenumber's Java regexes mean too) must find exactly what Unicode `\d`
/// found: same match, same place, same groups, for every example number of every region and
/// a spread of other digit strings.
#[test]
fn ascii_classes_match_digits_exactly_as_unicode_classes_did() {
    let (patterns, examples) = patterns_and_examples();
    let haystacks = haystacks(examples);
    let mut differences = Vec::new();
    for pattern in &patterns {
        let unicode = regex::RegexBuilder::new(pattern).ignore_whitespace(true).build().expect("compiles");
        let ascii = compile_as_patched(pattern).expect("compiles");
        for haystack in &haystacks {
            if captures(&unicode, haystack) != captures(&ascii, haystack) {
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
            if captures(&stored_re, haystack) != captures(&original_re, haystack) {
                differences.push((stored.clone(), haystack.clone()));
            }
        }
    }
    assert_eq!(differences, Vec::new());
}
