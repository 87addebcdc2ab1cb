//! A throwaway PostgreSQL cluster for the integration tests and `trailmask demo`.
//!
//! [`Cluster::start`] finds Debian's PostgreSQL binaries, runs `initdb` into a fresh temporary
//! directory (UTF8, SCRAM-SHA-256 with a superuser password), picks a free port on 127.0.0.1,
//! keeps the unix socket inside the directory and starts the server with `pg_ctl -w`. Running as
//! root, every PostgreSQL program runs as the `postgres` OS user through `runuser`, because the
//! server refuses to run as root. Dropping the [`Cluster`] stops the server (`-m immediate`:
//! nothing in it is worth a checkpoint) and removes the directory.
//!
//! Logins are created with [`Cluster::create_user`] for each password method the proxy must relay
//! (SCRAM, md5, cleartext `password`, trust). The method is chosen by membership in a group role
//! that `pg_hba.conf` names with `+group`, so adding a user never needs a configuration reload
//! (a reload is asynchronous and would race the first login).
//!
//! This is test and demo tooling built on `std::process`; it is never on the proxy's hot path and
//! it blocks: call it from `spawn_blocking` inside async code that must stay responsive.

use std::fmt;
use std::fs;
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Where Debian's `postgresql-15` package puts the server programs; used when `pg_config` is
/// missing (it ships in a separate package).
const DEBIAN_BINDIR: &str = "/usr/lib/postgresql/15/bin";
/// Name of the bootstrap superuser; `postgres` so psql and pgbench defaults line up.
pub const SUPERUSER: &str = "postgres";
/// The OS account the server runs as when we are root.
const SERVICE_ACCOUNT: &str = "postgres";
/// Group roles whose members log in with md5, cleartext `password` and `trust` (see module doc).
const MD5_GROUP: &str = "trailmask_md5_logins";
const PASSWORD_GROUP: &str = "trailmask_password_logins";
const TRUST_GROUP: &str = "trailmask_trust_logins";
/// How many times `start` retries with a fresh port when another process took the one it picked.
const PORT_ATTEMPTS: usize = 3;
/// Seconds `pg_ctl -w` waits for the server; a loaded 2-core CI box needs more than the default.
const START_TIMEOUT_SECS: &str = "120";

/// What went wrong starting or driving the cluster; each message is one sentence for an operator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "PostgreSQL server programs not found (looked for initdb in {looked}); install Debian's \
         postgresql-15 (apt-get install -y postgresql-15)"
    )]
    MissingBinaries { looked: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("`{command}` failed with {status}: {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("generating a self-signed certificate failed: {0}")]
    Certificate(String),
    #[error("the OS user `{0}` does not exist; install Debian's postgresql-15, which creates it")]
    MissingServiceAccount(String),
}

impl Error {
    fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}

impl From<Error> for crate::error::Error {
    fn from(e: Error) -> Self {
        crate::error::Error::new(
            crate::error::Kind::Io,
            crate::error::Source::Upstream,
            e.to_string(),
        )
    }
}

/// How a login proves its identity to the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordAuth {
    /// `scram-sha-256` with a SCRAM verifier stored.
    Scram,
    /// `md5` with an md5 hash stored (the md5 method would silently use SCRAM otherwise).
    Md5,
    /// `password`: the client sends the password in clear.
    Password,
    /// `trust`: no password at all.
    Trust,
}

impl PasswordAuth {
    /// The `pg_hba.conf` method name, also pgbouncer's.
    pub fn hba_method(self) -> &'static str {
        match self {
            PasswordAuth::Scram => "scram-sha-256",
            PasswordAuth::Md5 => "md5",
            PasswordAuth::Password => "password",
            PasswordAuth::Trust => "trust",
        }
    }
}

/// A login created by [`Cluster::create_user`].
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub password: String,
    pub auth: PasswordAuth,
}

/// How to set the cluster up.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `ssl = on` with a freshly generated self-signed certificate for `localhost`/`127.0.0.1`.
    pub ssl: bool,
    /// Extra `pg_hba.conf` lines, placed before the defaults so they win.
    pub hba: Vec<String>,
    /// `password_encryption` for passwords set without an explicit method; default scram-sha-256.
    pub password_encryption: Option<String>,
    /// Extra `postgresql.conf` lines (`name = value`).
    pub settings: Vec<String>,
    /// Superuser password; default a random one.
    pub superuser_password: Option<String>,
}

/// Paths of a PEM certificate and its private key.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A running throwaway PostgreSQL; stopped and deleted on drop.
pub struct Cluster {
    /// Temporary directory holding `data/`, `sock/`, the log and any caller files.
    root: PathBuf,
    bindir: PathBuf,
    port: u16,
    superuser_password: String,
    /// `Some((uid, gid))` of the service account when we are root and must switch users.
    service_account: Option<(u32, u32)>,
    users: Vec<User>,
    ssl: Option<CertFiles>,
    stopped: bool,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No password in Debug output.
        f.debug_struct("Cluster")
            .field("root", &self.root)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

// === impl Cluster ===

impl Cluster {
    /// initdb, configure and start a cluster; see the module doc.
    pub fn start(opts: Options) -> Result<Cluster, Error> {
        let bindir = find_bindir()?;
        let service_account = if running_as_root() {
            Some(service_account_ids(SERVICE_ACCOUNT)?)
        } else {
            None
        };
        let root = make_temp_dir("trailmask-pg")?;
        let mut cluster = Cluster {
            root,
            bindir,
            port: 0,
            superuser_password: opts
                .superuser_password
                .clone()
                .unwrap_or_else(random_password),
            service_account,
            users: Vec::new(),
            ssl: None,
            stopped: true,
        };
        cluster.init(&opts)?;
        Ok(cluster)
    }

    fn init(&mut self, opts: &Options) -> Result<(), Error> {
        let pwfile = self.root.join("superuser.pw");
        write_file(&pwfile, format!("{}\n", self.superuser_password).as_bytes())?;
        fs::create_dir(self.socket_dir()).map_err(Error::io("creating the socket directory"))?;
        self.hand_over(&self.root)?;
        self.hand_over(&pwfile)?;
        self.hand_over(&self.socket_dir())?;

        let data = self.data_dir();
        self.run_pg(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                SUPERUSER.as_ref(),
                "--pwfile".as_ref(),
                pwfile.as_os_str(),
                "--auth-local=trust".as_ref(),
                "--auth-host=scram-sha-256".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C".as_ref(),
                // No fsync: the cluster is thrown away, and initdb's syncs dominate its run time.
                "--no-sync".as_ref(),
            ],
        )?;
        let _ = fs::remove_file(&pwfile);

        if opts.ssl {
            let dir = self.root.join("server-tls");
            fs::create_dir(&dir).map_err(Error::io("creating the TLS directory"))?;
            let files = self_signed_cert(&dir, "server")?;
            self.hand_over(&dir)?;
            self.hand_over(&files.cert)?;
            self.hand_over(&files.key)?;
            self.ssl = Some(files);
        }
        self.write_hba(opts)?;

        let mut last = None;
        for _ in 0..PORT_ATTEMPTS {
            self.port = free_port()?;
            self.write_conf(opts)?;
            match self.pg_ctl_start() {
                Ok(()) => {
                    self.stopped = false;
                    last = None;
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        if let Some(e) = last {
            return Err(e);
        }
        self.psql(&format!(
            "CREATE ROLE {MD5_GROUP} NOLOGIN; CREATE ROLE {PASSWORD_GROUP} NOLOGIN; \
             CREATE ROLE {TRUST_GROUP} NOLOGIN;"
        ))?;
        Ok(())
    }

    fn write_hba(&self, opts: &Options) -> Result<(), Error> {
        let mut hba = String::from("# Written by trailmask's cluster helper.\n");
        for line in &opts.hba {
            hba.push_str(line);
            hba.push('\n');
        }
        hba.push_str(&format!(
            "local all all trust\n\
             host all +{MD5_GROUP} 127.0.0.1/32 md5\n\
             host all +{PASSWORD_GROUP} 127.0.0.1/32 password\n\
             host all +{TRUST_GROUP} 127.0.0.1/32 trust\n\
             host all all 127.0.0.1/32 scram-sha-256\n"
        ));
        let path = self.data_dir().join("pg_hba.conf");
        write_file(&path, hba.as_bytes())?;
        self.hand_over(&path)
    }

    fn write_conf(&self, opts: &Options) -> Result<(), Error> {
        let mut conf = format!(
            "# Written by trailmask's cluster helper.\n\
             listen_addresses = '127.0.0.1'\n\
             port = {port}\n\
             unix_socket_directories = '{sock}'\n\
             max_connections = 200\n\
             shared_buffers = 32MB\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n\
             password_encryption = '{enc}'\n",
            port = self.port,
            sock = self.socket_dir().display(),
            enc = opts
                .password_encryption
                .as_deref()
                .unwrap_or("scram-sha-256"),
        );
        if let Some(ssl) = &self.ssl {
            conf.push_str(&format!(
                "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
                ssl.cert.display(),
                ssl.key.display()
            ));
        }
        for line in &opts.settings {
            conf.push_str(line);
            conf.push('\n');
        }
        let path = self.data_dir().join("postgresql.auto.conf");
        write_file(&path, conf.as_bytes())?;
        self.hand_over(&path)
    }

    fn pg_ctl_start(&self) -> Result<(), Error> {
        let data = self.data_dir();
        let log = self.log_file();
        self.run_pg(
            "pg_ctl",
            &[
                "start".as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                START_TIMEOUT_SECS.as_ref(),
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
            ],
        )
        .map(drop)
        .map_err(|e| match e {
            Error::Command {
                command, status, ..
            } => Error::Command {
                command,
                status,
                stderr: format!(
                    "the server did not start; its log says: {}",
                    fs::read_to_string(&log).unwrap_or_default().trim()
                ),
            },
            other => other,
        })
    }

    /// Stops the server now (also done on drop).
    pub fn stop(&mut self) -> Result<(), Error> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let data = self.data_dir();
        self.run_pg(
            "pg_ctl",
            &[
                "stop".as_ref(),
                "-w".as_ref(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-D".as_ref(),
                data.as_os_str(),
            ],
        )
        .map(drop)
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Directory of the server's unix socket.
    pub fn socket_dir(&self) -> PathBuf {
        self.root.join("sock")
    }

    /// The cluster's temporary directory; callers may keep their own files here (removed on drop).
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// Directory of the PostgreSQL programs (psql, pgbench, …).
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// Path of one PostgreSQL program.
    pub fn program(&self, name: &str) -> PathBuf {
        self.bindir.join(name)
    }

    pub fn superuser_password(&self) -> &str {
        &self.superuser_password
    }

    /// The certificate the server presents when started with `ssl`.
    pub fn server_cert(&self) -> Option<&CertFiles> {
        self.ssl.as_ref()
    }

    /// Key-value connection string for the superuser over TCP.
    pub fn superuser_conn_string(&self) -> String {
        self.conn_string(SUPERUSER, &self.superuser_password, "postgres")
    }

    /// Key-value connection string for any login over TCP, TLS off.
    pub fn conn_string(&self, user: &str, password: &str, dbname: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} password={password} dbname={dbname} sslmode=disable",
            self.port
        )
    }

    /// The logins made with [`Cluster::create_user`].
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// Runs SQL as the superuser in database `postgres` (unix socket, trust); returns `psql -At`
    /// output.
    pub fn psql(&self, sql: &str) -> Result<String, Error> {
        self.psql_db("postgres", sql)
    }

    /// Runs SQL as the superuser in `dbname`; stops at the first error.
    pub fn psql_db(&self, dbname: &str, sql: &str) -> Result<String, Error> {
        let out = self.psql_command(dbname).arg("-c").arg(sql).output();
        command_output("psql", out)
    }

    /// Runs an SQL file as the superuser in `dbname`; stops at the first error.
    pub fn psql_file(&self, dbname: &str, file: &Path) -> Result<String, Error> {
        let out = self.psql_command(dbname).arg("-f").arg(file).output();
        command_output("psql", out)
    }

    fn psql_command(&self, dbname: &str) -> Command {
        let mut cmd = Command::new(self.program("psql"));
        cmd.arg("-X")
            .arg("-q")
            .arg("-At")
            .arg("-v")
            .arg("ON_ERROR_STOP=1")
            .arg("-h")
            .arg(self.socket_dir())
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-U")
            .arg(SUPERUSER)
            .arg("-d")
            .arg(dbname)
            .stdin(Stdio::null());
        cmd
    }

    /// `CREATE DATABASE name` (UTF8).
    pub fn create_database(&self, name: &str) -> Result<(), Error> {
        self.psql(&format!("CREATE DATABASE {}", quote_ident(name)))
            .map(drop)
    }

    /// Creates a login that authenticates with `auth` over TCP.
    pub fn create_user(
        &mut self,
        name: &str,
        password: &str,
        auth: PasswordAuth,
    ) -> Result<(), Error> {
        let ident = quote_ident(name);
        let literal = quote_literal(password);
        let sql = match auth {
            PasswordAuth::Scram => format!(
                "SET password_encryption = 'scram-sha-256'; \
                 CREATE ROLE {ident} LOGIN PASSWORD {literal};"
            ),
            PasswordAuth::Md5 => format!(
                "SET password_encryption = 'md5'; CREATE ROLE {ident} LOGIN PASSWORD {literal}; \
                 GRANT {MD5_GROUP} TO {ident};"
            ),
            PasswordAuth::Password => format!(
                "CREATE ROLE {ident} LOGIN PASSWORD {literal}; GRANT {PASSWORD_GROUP} TO {ident};"
            ),
            PasswordAuth::Trust => format!(
                "CREATE ROLE {ident} LOGIN PASSWORD {literal}; GRANT {TRUST_GROUP} TO {ident};"
            ),
        };
        self.psql(&sql)?;
        self.users.push(User {
            name: name.to_owned(),
            password: password.to_owned(),
            auth,
        });
        Ok(())
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The server log (`pg_ctl -l`).
    pub fn log_file(&self) -> PathBuf {
        self.root.join("server.log")
    }

    /// Gives a path to the service account when we are root, so the server can read it.
    pub fn hand_over(&self, path: &Path) -> Result<(), Error> {
        if let Some((uid, gid)) = self.service_account {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(Error::io(format!("giving {} to postgres", path.display())))?;
        }
        Ok(())
    }

    /// A command that runs a PostgreSQL program as the service account when we are root.
    pub fn pg_command(&self, program: &str) -> Command {
        let path = self.program(program);
        match self.service_account {
            Some(_) => {
                let mut cmd = Command::new("runuser");
                cmd.arg("-u").arg(SERVICE_ACCOUNT).arg("--").arg(path);
                cmd
            }
            None => Command::new(path),
        }
    }

    /// Whether helper processes (pgbouncer, the server) run as another OS user.
    pub fn switches_user(&self) -> bool {
        self.service_account.is_some()
    }

    fn run_pg(&self, program: &str, args: &[&std::ffi::OsStr]) -> Result<String, Error> {
        let out = self
            .pg_command(program)
            .args(args)
            .stdin(Stdio::null())
            .output();
        command_output(program, out)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Nothing to report to: a failed stop leaves a server whose directory we still remove,
        // and it then exits on its own when it notices (postmaster checks its data directory).
        let _ = self.stop();
        let _ = fs::remove_dir_all(&self.root);
    }
}

// === helpers ===

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(Error::io("binding 127.0.0.1:0 to find a free port"))?;
    let addr = listener
        .local_addr()
        .map_err(Error::io("reading a bound port"))?;
    Ok(addr.port())
}

/// Writes a self-signed certificate for `localhost` and `127.0.0.1` as `<name>.crt` and
/// `<name>.key` (mode 0600) in `dir`.
pub fn self_signed_cert(dir: &Path, name: &str) -> Result<CertFiles, Error> {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(|e| Error::Certificate(e.to_string()))?;
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    write_file(&cert, certified.cert.pem().as_bytes())?;
    write_file(&key, certified.key_pair.serialize_pem().as_bytes())?;
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600))
        .map_err(Error::io(format!("restricting {}", key.display())))?;
    Ok(CertFiles { cert, key })
}

/// Creates a new, empty directory under the system temp dir, unique to this call.
pub fn make_temp_dir(prefix: &str) -> Result<PathBuf, Error> {
    let base = std::env::temp_dir();
    let mut last = None;
    for _ in 0..8 {
        let mut bytes = [0u8; 6];
        getrandom::fill(&mut bytes).map_err(|e| Error::Io {
            what: "reading random bytes".to_owned(),
            source: io::Error::other(e.to_string()),
        })?;
        let path = base.join(format!("{prefix}-{}", hex(&bytes)));
        match fs::create_dir(&path) {
            Ok(()) => {
                fs::set_permissions(&path, fs::Permissions::from_mode(0o700))
                    .map_err(Error::io(format!("restricting {}", path.display())))?;
                return Ok(path);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(Error::io(format!("creating {}", path.display()))(e)),
        }
    }
    Err(Error::io("creating a temporary directory")(
        last.unwrap_or_else(|| io::Error::other("no unique name found")),
    ))
}

/// A random password of 24 hex digits: safe in connection strings and SQL literals.
pub fn random_password() -> String {
    let mut bytes = [0u8; 12];
    // A fixed fallback only if the OS has no randomness; the cluster listens on loopback only.
    if getrandom::fill(&mut bytes).is_err() {
        return "trailmask-demo-password".to_owned();
    }
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write_file(path: &Path, contents: &[u8]) -> Result<(), Error> {
    fs::write(path, contents).map_err(Error::io(format!("writing {}", path.display())))
}

/// `pg_config --bindir` if it names a directory with initdb, else Debian's fixed path.
fn find_bindir() -> Result<PathBuf, Error> {
    let mut looked = Vec::new();
    if let Ok(out) = Command::new("pg_config")
        .arg("--bindir")
        .stderr(Stdio::null())
        .output()
    {
        if out.status.success() {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if dir.join("initdb").is_file() {
                return Ok(dir);
            }
            looked.push(dir.display().to_string());
        }
    }
    let debian = PathBuf::from(DEBIAN_BINDIR);
    if debian.join("initdb").is_file() {
        return Ok(debian);
    }
    looked.push(DEBIAN_BINDIR.to_owned());
    Err(Error::MissingBinaries {
        looked: looked.join(", "),
    })
}

/// `/proc/self` belongs to the process's effective user.
fn running_as_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// uid and gid of an OS account, from /etc/passwd.
fn service_account_ids(name: &str) -> Result<(u32, u32), Error> {
    let passwd = fs::read_to_string("/etc/passwd").map_err(Error::io("reading /etc/passwd"))?;
    for line in passwd.lines() {
        let mut fields = line.split(':');
        if fields.next() != Some(name) {
            continue;
        }
        let _password = fields.next();
        let uid = fields.next().and_then(|f| f.parse().ok());
        let gid = fields.next().and_then(|f| f.parse().ok());
        if let (Some(uid), Some(gid)) = (uid, gid) {
            return Ok((uid, gid));
        }
    }
    Err(Error::MissingServiceAccount(name.to_owned()))
}

fn command_output(program: &str, out: io::Result<Output>) -> Result<String, Error> {
    let out = out.map_err(Error::io(format!("running {program}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
    } else {
        Err(Error::Command {
            command: program.to_owned(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// `"name"` with embedded quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'value'` with embedded quotes doubled (standard_conforming_strings is on).
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }

    #[test]
    fn random_passwords_differ_and_are_hex() {
        let a = random_password();
        let b = random_password();
        assert_ne!(a, b);
        assert_eq!(a.len(), 24);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn a_cluster_starts_accepts_logins_and_is_removed() -> Result<(), Error> {
        let mut cluster = Cluster::start(Options::default())?;
        cluster.create_user("alice", "alice-pw", PasswordAuth::Md5)?;
        assert_eq!(cluster.psql("SELECT 1 + 1")?, "2");
        assert_eq!(
            cluster
                .psql("SELECT rolpassword LIKE 'md5%' FROM pg_authid WHERE rolname = 'alice'")?,
            "t"
        );
        let dir = cluster.dir().to_owned();
        drop(cluster);
        assert!(!dir.exists());
        Ok(())
    }

    #[test]
    fn ssl_clusters_present_a_certificate_valid_for_127_0_0_1() -> Result<(), Error> {
        let mut cluster = Cluster::start(Options {
            ssl: true,
            hba: vec!["hostnossl all all 127.0.0.1/32 reject".to_owned()],
            ..Options::default()
        })?;
        cluster.create_user("tls_user", "tls-pw", PasswordAuth::Scram)?;
        let cert = cluster
            .server_cert()
            .ok_or(Error::Certificate("none".into()))?;
        let conn = format!(
            "host=127.0.0.1 port={} user=tls_user password=tls-pw dbname=postgres \
             sslmode=verify-full sslrootcert={}",
            cluster.port(),
            cert.cert.display()
        );
        let out = Command::new(cluster.program("psql"))
            .args(["-X", "-At", "-c"])
            .arg("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .arg(&conn)
            .output();
        assert_eq!(command_output("psql", out)?, "t");
        // Plaintext is refused by the extra hba line.
        let plain = conn.replace("sslmode=verify-full", "sslmode=disable");
        let out = Command::new(cluster.program("psql"))
            .args(["-X", "-At", "-c", "SELECT 1"])
            .arg(&plain)
            .output();
        assert!(command_output("psql", out).is_err());
        Ok(())
    }
}
