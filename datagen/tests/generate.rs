//! The generator's promises: determinism, formats, and realism measured on the output.

use std::path::Path;

use lyra_datagen::realism::{self, Report};
use lyra_datagen::{Config, FileSink, Format, Preset, Realism, Table, generate};
use sha2::{Digest, Sha256};

fn generate_to(
    dir: &Path,
    config: &Config,
    format: Format,
    threads: usize,
) -> lyra_datagen::Summary {
    let mut sink = FileSink::create(dir, format).unwrap();
    let summary = generate(config, format, &mut sink, threads, &mut |_, _| {}).unwrap();
    sink.finish().unwrap();
    summary
}

fn checksums(dir: &Path, format: Format) -> Vec<(String, String)> {
    Table::ALL
        .iter()
        .map(|t| {
            let name = t.file_name(format);
            let bytes = std::fs::read(dir.join(&name)).unwrap();
            (name, format!("{:x}", Sha256::digest(&bytes)))
        })
        .collect()
}

fn small(seed: u64) -> Config {
    let mut config = Preset::Small.config(seed);
    config.customers = 800;
    config.merchants = 120;
    config
}

#[test]
fn same_seed_same_bytes_whatever_the_threads() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    for format in [Format::Csv, Format::Ndjson] {
        generate_to(a.path(), &small(7), format, 1);
        generate_to(b.path(), &small(7), format, 3);
        generate_to(c.path(), &small(8), format, 2);
        let (sa, sb, sc) = (
            checksums(a.path(), format),
            checksums(b.path(), format),
            checksums(c.path(), format),
        );
        assert_eq!(sa, sb, "{format:?}");
        for (x, y) in sa.iter().zip(&sc) {
            assert_ne!(x.1, y.1, "a different seed must change {}", x.0);
        }
    }
}

#[test]
fn csv_and_ndjson_carry_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    generate_to(dir.path(), &small(3), Format::Csv, 2);
    generate_to(dir.path(), &small(3), Format::Ndjson, 2);
    let csv = std::fs::read_to_string(dir.path().join("transactions.csv")).unwrap();
    let ndjson = std::fs::read_to_string(dir.path().join("transactions.ndjson")).unwrap();
    let mut csv_lines = csv.lines();
    assert_eq!(
        csv_lines.next(),
        Some("txn_id,booked_at,customer_id,merchant_id,amount_minor,currency,channel")
    );
    let (mut rows, mut refunds) = (0, 0);
    for (c, j) in csv_lines.zip(ndjson.lines()) {
        let f: Vec<&str> = c.split(',').collect();
        assert_eq!(f.len(), 7, "{c}");
        assert_eq!(f[0].len(), 16);
        assert!(
            f[1].len() == 25 && &f[1][10..11] == "T" && (f[1].ends_with(":00")),
            "{c}"
        );
        let amount: i64 = f[4].parse().unwrap();
        assert_ne!(amount, 0);
        refunds += (amount < 0) as u32;
        assert_eq!(f[5], "RUB");
        assert!(f[6] == "pos" || f[6] == "ecom");
        let expected = format!(
            "{{\"txn_id\":\"{}\",\"booked_at\":\"{}\",\"customer_id\":{},\"merchant_id\":{},\"amount_minor\":{},\"currency\":\"{}\",\"channel\":\"{}\"}}",
            f[0], f[1], f[2], f[3], f[4], f[5], f[6]
        );
        assert_eq!(j, expected);
        rows += 1;
    }
    assert_eq!(rows, ndjson.lines().count());
    assert!(rows > 10_000, "{rows}");
    assert!(refunds > 0, "some refunds expected");
    let mut ids: Vec<&str> = csv.lines().skip(1).map(|l| &l[..16]).collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "transaction ids are unique");
}

fn measure(realism: Realism) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Preset::Small.config(7);
    config.realism = realism;
    generate_to(dir.path(), &config, Format::Csv, 2);
    realism::analyse(dir.path()).unwrap()
}

#[test]
fn generated_data_passes_every_realism_check() {
    let report = measure(Realism::FULL);
    println!("{report}");
    assert!(report.all_pass(), "{report}");
}

#[test]
fn realism_checks_fail_on_flat_data() {
    let report = measure(Realism::FLAT);
    println!("{report}");
    for check in &report.checks {
        assert!(!check.passes(), "flat data should fail {:?}", check);
    }
}
