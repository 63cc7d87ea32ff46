//! The check the patched `phonenumber` no longer makes on every cold start (see
//! `vendor/phonenumber/PATCHED.md`): every pattern of the built-in metadata compiles, with the
//! flags the crate compiles it with.

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

#[test]
fn every_pattern_of_the_phone_metadata_compiles() {
    let mut patterns: Vec<String> = Vec::new();
    let mut regions = 0;
    for metadata in DATABASE.iter() {
        regions += 1;
        patterns.extend(descriptors(metadata).iter().map(|d| d.national_number().as_str().to_string()));
        patterns.extend(metadata.international_prefix().map(|r| r.as_str().to_string()));
        patterns.extend(metadata.national_prefix_for_parsing().map(|r| r.as_str().to_string()));
        patterns.extend(metadata.leading_digits().map(|r| r.as_str().to_string()));
        for format in metadata.formats().iter().chain(metadata.international_formats()) {
            patterns.push(format.pattern().as_str().to_string());
            patterns.extend(format.leading_digits().iter().map(|r| r.as_str().to_string()));
        }
    }
    let broken: Vec<&String> = patterns
        .iter()
        .filter(|pattern| regex::RegexBuilder::new(pattern).ignore_whitespace(true).build().is_err())
        .collect();
    assert!(regions > 200, "{regions} regions");
    assert!(patterns.len() > 4_000, "{} patterns", patterns.len());
    assert_eq!(broken, Vec::<&String>::new(), "of {} patterns", patterns.len());
}
