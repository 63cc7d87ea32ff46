use std::env;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

#[path = "src/metadata/loader.rs"]
mod loader;

#[path = "src/error.rs"]
mod error;

#[path = "src/parser_patterns.rs"]
mod parser_patterns;

fn main() {
    let pnm_path = "assets/PhoneNumberMetadata.xml";
    let metadata = loader::load(BufReader::new(
        File::open(pnm_path).expect("could not open metadata file"),
    ))
    .expect("failed to load metadata");
    println!("cargo:rerun-if-changed={pnm_path}");

    // Each region postcard-encoded on its own, one after another, and an index of where each
    // one is: the library decodes a region when a number first needs it, not all at start-up.
    let mut regions = Vec::new();
    let mut index: Vec<(String, u16, bool, u32, u32)> = Vec::new();
    let mut metadata = metadata;
    metadata.iter_mut().for_each(strip_pattern_whitespace);
    for region in &metadata {
        let start = regions.len() as u32;
        regions.extend(postcard::to_stdvec(region).expect("failed to serialize region"));
        index.push((
            region.id.clone().expect("region without id"),
            region.country_code.expect("region without country code"),
            region.main_country_for_code,
            start,
            regions.len() as u32,
        ));
    }
    let out_dir = env::var("OUT_DIR").unwrap();
    std::fs::write(Path::new(&out_dir).join("database.bin"), regions)
        .expect("could not write database file");
    let mut out = BufWriter::new(
        File::create(Path::new(&out_dir).join("database-index.bin"))
            .expect("could not create database index file"),
    );
    postcard::to_io(&index, &mut out).expect("failed to serialize database index");

    println!("cargo:rerun-if-changed=src/parser_patterns.rs");
    std::fs::write(
        Path::new(&out_dir).join("parser_patterns.rs"),
        translate_parser_patterns(),
    )
    .expect("could not write the translated parser patterns");
}

/// The parser's patterns (`src/parser_patterns.rs`) as `regex` compiles them, written out for
/// `regex-lite`, which has no Unicode classes and folds only ASCII case: `regex-syntax`
/// translates each pattern with `regex`'s flags, which resolves every Unicode class and case
/// folding into explicit ranges, and prints the result, a pattern with the same matches and
/// groups and no Unicode class. The character classes become sorted range tables.
fn translate_parser_patterns() -> String {
    use regex_syntax::hir::{Class, HirKind};

    let hir = |pattern: &str, case_insensitive: bool| {
        regex_syntax::ParserBuilder::new()
            .case_insensitive(case_insensitive)
            .build()
            .parse(pattern)
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
    };
    let mut out = String::from("// Written by build.rs from src/parser_patterns.rs.\n");
    for source in parser_patterns::regexes() {
        let translated = hir(&source.pattern, source.case_insensitive).to_string();
        out += &format!("pub const {}: &str = {:?};\n", source.name, translated);
    }
    for (name, pattern) in parser_patterns::classes() {
        let hir = hir(&pattern, false);
        let HirKind::Class(Class::Unicode(class)) = hir.kind() else {
            panic!("{pattern} is not a class of characters");
        };
        let ranges: Vec<(char, char)> = class.iter().map(|r| (r.start(), r.end())).collect();
        out += &format!("pub const {name}: &[(char, char)] = &{ranges:?};\n");
    }
    out
}

/// The library compiles every pattern in verbose mode (`ignore_whitespace`), where whitespace
/// means nothing (the patterns have no `#` and no escaped space): the XML's line breaks and
/// indentation inside patterns, 60% of the encoded metadata, are left out of it.
fn strip_pattern_whitespace(region: &mut loader::Metadata) {
    fn strip(pattern: &mut String) {
        pattern.retain(|c| !c.is_whitespace());
    }
    let descriptors = [
        &mut region.general,
        &mut region.fixed_line,
        &mut region.mobile,
        &mut region.toll_free,
        &mut region.premium_rate,
        &mut region.shared_cost,
        &mut region.personal_number,
        &mut region.voip,
        &mut region.pager,
        &mut region.uan,
        &mut region.emergency,
        &mut region.voicemail,
        &mut region.short_code,
        &mut region.standard_rate,
        &mut region.carrier,
        &mut region.no_international,
    ];
    for descriptor in descriptors.into_iter().flatten() {
        descriptor.national_number.iter_mut().for_each(strip);
    }
    for format in region.formats.iter_mut().chain(region.international_formats.iter_mut()) {
        format.pattern.iter_mut().for_each(strip);
        format.leading_digits.iter_mut().for_each(strip);
    }
    region.international_prefix.iter_mut().for_each(strip);
    region.national_prefix_for_parsing.iter_mut().for_each(strip);
    region.leading_digits.iter_mut().for_each(strip);
}
