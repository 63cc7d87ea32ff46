//! The check the patched `phonenumber` no longer makes on every cold start (see
//! `vendor/phonenumber/PATCHED.md`): every pattern of the built-in metadata compiles, with the
//! flags the patched crate compiles it with (ASCII classes); and with those flags every pattern
//! matches digit strings exactly as it did with Unicode classes, the stock crate's flags.

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

/// Every pattern of the built-in metadata, and every example number it gives.
fn patterns_and_examples() -> (Vec<String>, Vec<String>) {
    let (mut patterns, mut examples) = (Vec::new(), Vec::new());
    for metadata in DATABASE.iter() {
        for descriptor in descriptors(metadata) {
            patterns.push(descriptor.national_number().as_str().to_string());
            examples.extend(descriptor.example().map(str::to_string));
        }
        patterns.extend(metadata.international_prefix().map(|r| r.as_str().to_string()));
        patterns.extend(metadata.national_prefix_for_parsing().map(|r| r.as_str().to_string()));
        patterns.extend(metadata.leading_digits().map(|r| r.as_str().to_string()));
        for format in metadata.formats().iter().chain(metadata.international_formats()) {
            patterns.push(format.pattern().as_str().to_string());
            patterns.extend(format.leading_digits().iter().map(|r| r.as_str().to_string()));
        }
    }
    patterns.sort();
    patterns.dedup();
    (patterns, examples)
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
    let (patterns, mut haystacks) = patterns_and_examples();
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
            haystacks.push(digits);
        }
    }
    let mut differences = Vec::new();
    for pattern in &patterns {
        let unicode = regex::RegexBuilder::new(pattern).ignore_whitespace(true).build().expect("compiles");
        let ascii = compile_as_patched(pattern).expect("compiles");
        for haystack in &haystacks {
            let groups = |re: &regex::Regex| {
                re.captures(haystack).map(|c| c.iter().map(|m| m.map(|m| m.range())).collect::<Vec<_>>())
            };
            if groups(&unicode) != groups(&ascii) {
                differences.push((pattern.clone(), haystack.clone()));
            }
        }
    }
    assert!(haystacks.len() > 1_000, "{} haystacks", haystacks.len());
    assert_eq!(differences, Vec::new());
}
