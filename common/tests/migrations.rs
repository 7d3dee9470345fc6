//! Applied migrations are never edited: each migration's checksum is recorded in
//! `infra/migrations.lock` when it is added, and must never change afterwards.

use lyra_common::db::MIGRATOR;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn applied_migrations_are_never_edited() {
    let lock_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/migrations.lock");
    let lock = std::fs::read_to_string(lock_path).unwrap_or_default();
    let recorded: Vec<(i64, String)> = lock
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (v, sum) = l.split_once(' ').expect("`<version> <sha384>` per line");
            (v.parse().expect("version"), sum.trim().to_string())
        })
        .collect();
    let actual: Vec<(i64, String)> = MIGRATOR
        .iter()
        .map(|m| (m.version, hex(&m.checksum)))
        .collect();
    for (version, sum) in &recorded {
        let now = actual.iter().find(|(v, _)| v == version);
        assert!(
            now.is_some(),
            "migration {version} was removed; applied migrations stay"
        );
        assert_eq!(
            &now.unwrap().1,
            sum,
            "migration {version} was edited; add a new migration instead"
        );
    }
    let missing: Vec<String> = actual
        .iter()
        .filter(|(v, _)| !recorded.iter().any(|(r, _)| r == v))
        .map(|(v, s)| format!("{v} {s}"))
        .collect();
    assert!(
        missing.is_empty(),
        "record new migrations in infra/migrations.lock:\n{}",
        missing.join("\n")
    );
}
