use std::env;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

#[path = "src/metadata/loader.rs"]
mod loader;

#[path = "src/error.rs"]
mod error;

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
}
