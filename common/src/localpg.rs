//! A private PostgreSQL cluster for development and tests, started from the installed
//! server binaries (`initdb`, `pg_ctl`).
//!
//! Postgres refuses to run as root, so when this process is root the cluster runs as the
//! `postgres` system user (or `nobody`), and its directory is handed to that user.
//! The cluster listens on 127.0.0.1 only, on a port chosen at start, with no Unix socket.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The superuser created in a private cluster; migrations run as it.
pub const ADMIN_USER: &str = "lyra_admin";

/// What can go wrong with a local cluster.
#[derive(Debug, thiserror::Error)]
pub enum LocalPgError {
    /// No server binaries on this machine.
    #[error(
        "no PostgreSQL server installation found (looked for initdb and pg_ctl on PATH and in \
         /usr/lib/postgresql/*/bin).\nInstall one, e.g. `apt-get install postgresql` on Debian or \
         Ubuntu, or `brew install postgresql@15` on macOS, or set DATABASE_URL to an existing server"
    )]
    NotInstalled,
    /// A command failed.
    #[error("{command} failed: {detail}")]
    Command {
        /// What was run.
        command: String,
        /// Its output or error.
        detail: String,
    },
    /// File-system trouble.
    #[error("{path}: {source}")]
    Io {
        /// The path concerned.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LocalPgError + '_ {
    move |source| LocalPgError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A cluster directory and the binaries that manage it.
#[derive(Debug, Clone)]
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    /// uid/gid to run the server as when we are root.
    run_as: Option<(u32, u32)>,
}

impl Cluster {
    /// A cluster in `dir` (which need not exist yet).
    pub fn new(dir: impl Into<PathBuf>) -> Result<Cluster, LocalPgError> {
        Ok(Cluster {
            bin: find_bin_dir()?,
            dir: dir.into(),
            run_as: unprivileged_user(),
        })
    }

    /// The cluster's data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether `initdb` has run in the directory.
    pub fn is_initialised(&self) -> bool {
        self.dir.join("PG_VERSION").exists()
    }

    /// Creates the cluster. `durable = false` trades crash safety for speed (tests).
    pub fn init(&self, durable: bool) -> Result<(), LocalPgError> {
        fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
            .map_err(io_err(&self.dir))?;
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(&self.dir, Some(uid), Some(gid)).map_err(io_err(&self.dir))?;
        }
        self.run(self.command("initdb").arg("-D").arg(&self.dir).args([
            "-U",
            ADMIN_USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]))?;
        let mut conf = String::from(
            "\n# lyra: a private cluster on loopback only\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = ''\n\
             max_connections = 300\n\
             shared_buffers = 256MB\n\
             timezone = 'UTC'\n",
        );
        if !durable {
            conf.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        }
        let path = self.dir.join("postgresql.conf");
        let mut text = fs::read_to_string(&path).map_err(io_err(&path))?;
        text.push_str(&conf);
        fs::write(&path, text).map_err(io_err(&path))?;
        Ok(())
    }

    /// Starts the server on `port` and waits until it accepts connections.
    pub fn start(&self, port: u16) -> Result<(), LocalPgError> {
        let log = self.dir.join("server.log");
        self.run(
            self.command("pg_ctl")
                .arg("-D")
                .arg(&self.dir)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "60", "-o"])
                .arg(format!("-p {port}"))
                .arg("start"),
        )
        .map_err(|e| match fs::read_to_string(&log) {
            Ok(tail) => LocalPgError::Command {
                command: "pg_ctl start".into(),
                detail: format!("{e}\nserver log:\n{}", last_lines(&tail, 20)),
            },
            Err(_) => e,
        })
    }

    /// Stops the server (fast shutdown: open sessions are ended).
    pub fn stop(&self) -> Result<(), LocalPgError> {
        self.run(
            self.command("pg_ctl")
                .arg("-D")
                .arg(&self.dir)
                .args(["-m", "fast", "-w", "stop"]),
        )
    }

    /// The port of the running server, or `None` when it is not running.
    pub fn running_port(&self) -> Option<u16> {
        let status = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.dir)
            .arg("status")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        if !status.success() {
            return None;
        }
        // postmaster.pid: pid, data directory, start time, port, ...
        let pid = fs::read_to_string(self.dir.join("postmaster.pid")).ok()?;
        pid.lines().nth(3)?.trim().parse().ok()
    }

    /// Stops the server and removes its directory once process `pid` has exited, so a test
    /// run that ends (or crashes) leaves no server behind.
    pub fn remove_when_process_exits(&self, pid: u32) -> Result<(), LocalPgError> {
        let pg_ctl = self.bin.join("pg_ctl");
        let script = format!(
            "while [ -d /proc/{pid} ]; do sleep 0.5; done; \"{}\" -D \"{}\" -m immediate stop >/dev/null 2>&1; rm -rf \"{}\"",
            pg_ctl.display(),
            self.dir.display(),
            self.dir.display()
        );
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.drop_privileges(&mut cmd);
        // A new process group, so a Ctrl-C in the terminal does not kill the watchdog first.
        cmd.process_group(0);
        cmd.spawn().map_err(io_err(Path::new("sh")))?;
        Ok(())
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        cmd.current_dir("/");
        self.drop_privileges(&mut cmd);
        cmd
    }

    fn drop_privileges(&self, cmd: &mut Command) {
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
    }

    fn run(&self, cmd: &mut Command) -> Result<(), LocalPgError> {
        let name = cmd.get_program().to_string_lossy().into_owned();
        let output = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| LocalPgError::Command {
                command: name.clone(),
                detail: e.to_string(),
            })?;
        if output.status.success() {
            Ok(())
        } else {
            Err(LocalPgError::Command {
                command: name,
                detail: format!(
                    "{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ),
            })
        }
    }

    /// Whether the server's user can reach `path` (every ancestor searchable by it).
    pub fn server_can_reach(&self, path: &Path) -> bool {
        let Some((uid, gid)) = self.run_as else {
            return true;
        };
        path.ancestors().skip(1).all(|p| match fs::metadata(p) {
            Ok(m) => {
                let mode = m.mode();
                mode & 0o001 != 0
                    || (m.uid() == uid && mode & 0o100 != 0)
                    || (m.gid() == gid && mode & 0o010 != 0)
            }
            Err(_) => true, // not created yet: we create it world-searchable
        })
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Finds the directory holding `initdb` and `pg_ctl`: on `PATH`, else in the newest
/// `/usr/lib/postgresql/*/bin` (Debian keeps the server binaries off `PATH`).
pub fn find_bin_dir() -> Result<PathBuf, LocalPgError> {
    find_bin_dir_in(
        std::env::var_os("PATH").unwrap_or_default(),
        Path::new("/usr/lib/postgresql"),
    )
}

fn find_bin_dir_in(
    path: std::ffi::OsString,
    versions_root: &Path,
) -> Result<PathBuf, LocalPgError> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    for dir in std::env::split_paths(&path) {
        if has_both(&dir) {
            return Ok(dir);
        }
    }
    let mut versions: Vec<PathBuf> = fs::read_dir(versions_root)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions
        .into_iter()
        .rev()
        .find(|d| has_both(d))
        .ok_or(LocalPgError::NotInstalled)
}

/// When we are root: the uid/gid of `postgres` (or `nobody`) to run the server as.
fn unprivileged_user() -> Option<(u32, u32)> {
    let euid = fs::metadata("/proc/self").map(|m| m.uid()).ok()?;
    if euid != 0 {
        return None;
    }
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    let find = |name: &str| {
        passwd.lines().find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            (f.len() > 3 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
        })
    };
    find("postgres").or_else(|| find("nobody"))
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A connection URL for a role without password (the private cluster trusts loopback).
pub fn url(port: u16, user: &str, database: &str) -> String {
    format!("postgres://{user}@127.0.0.1:{port}/{database}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_installation_says_how_to_install_one() {
        let empty = std::env::temp_dir().join(format!("lyra-no-pg-{}", std::process::id()));
        fs::create_dir_all(&empty).unwrap();
        let err = find_bin_dir_in(empty.clone().into_os_string(), &empty)
            .unwrap_err()
            .to_string();
        fs::remove_dir_all(&empty).ok();
        assert!(
            err.contains("no PostgreSQL server installation found"),
            "{err}"
        );
        assert!(
            err.contains("apt-get install postgresql") && err.contains("DATABASE_URL"),
            "{err}"
        );
    }

    #[test]
    fn the_newest_versioned_directory_wins() {
        let root = std::env::temp_dir().join(format!("lyra-pg-versions-{}", std::process::id()));
        for v in ["13", "15"] {
            let bin = root.join(v).join("bin");
            fs::create_dir_all(&bin).unwrap();
            fs::write(bin.join("initdb"), "").unwrap();
            fs::write(bin.join("pg_ctl"), "").unwrap();
        }
        let found = find_bin_dir_in(std::ffi::OsString::new(), &root).unwrap();
        fs::remove_dir_all(&root).ok();
        assert!(found.ends_with("15/bin"), "{}", found.display());
    }
}
