//! `lyra bench generate`: generation to files against its peer, a plain sequential write of
//! the same number of bytes to the same disk, measured in the same run.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use crate::DataArgs;

/// The throughput PRODUCT.md holds the generator to.
const GOAL_TXNS_PER_SECOND: f64 = 1_000_000.0;

/// Runs the benchmark and prints both figures and their ratio.
pub fn generate(args: &DataArgs, dir: Option<PathBuf>) -> anyhow::Result<()> {
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("lyra-bench-gen-{}", std::process::id()))
    });
    let config = args.config()?;
    eprintln!(
        "generating {} customers, {} merchants, {} months with {} threads into {}",
        config.customers,
        config.merchants,
        config.months,
        args.threads(),
        dir.display()
    );
    let (summary, seconds) = crate::generate::to_files(args, &dir)?;
    let bytes: u64 = walk_size(&dir)?;
    std::fs::remove_dir_all(&dir).ok();

    // The peer: write the same number of bytes, 1 MiB at a time, and sync.
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("plain-write");
    let block = vec![b'x'; 1 << 20];
    let started = Instant::now();
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n])?;
        left -= n as u64;
    }
    file.flush()?;
    let plain = started.elapsed().as_secs_f64();
    std::fs::remove_dir_all(&dir).ok();

    let rate = summary.transactions as f64 / seconds;
    println!("transactions:           {}", summary.transactions);
    println!("bytes written:          {bytes}");
    println!(
        "lyra generate:          {seconds:.2} s  {rate:.0} transactions/s  {:.0} MB/s",
        bytes as f64 / seconds / 1e6
    );
    println!(
        "plain write, same bytes: {plain:.2} s  {:.0} MB/s",
        bytes as f64 / plain / 1e6
    );
    println!("ratio generate/plain write time: {:.2}", seconds / plain);
    println!(
        "goal {} transactions/s: {} ({:.2}x)",
        GOAL_TXNS_PER_SECOND,
        if rate >= GOAL_TXNS_PER_SECOND {
            "met"
        } else {
            "MISSED"
        },
        rate / GOAL_TXNS_PER_SECOND
    );
    Ok(())
}

fn walk_size(dir: &std::path::Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            walk_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}
