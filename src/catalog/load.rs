//! Loads a [`Snapshot`] from a live database with tokio-postgres, as trailmask's own catalog
//! login. Runs `SET search_path = pg_catalog` first so `pg_get_viewdef` qualifies every name
//! outside pg_catalog, which makes view definitions resolvable without the session's path.
//! Plain TCP (NoTls) for now; the catalog login should be allowed only from the proxy host.

use std::time::Duration;

use tokio_postgres::config::SslMode;
use tokio_postgres::NoTls;

use super::error::Error;
use super::snapshot::{AttNum, Column, RelKind, Relation, RoleOid, Snapshot, TableOid, TypeOid};
use super::CatalogOptions;
use crate::upstream::tls::UpstreamTls;

/// How long to wait for the catalog connection: as long as a client would wait for the
/// database, no more (the proxy's `upstream.connect_timeout_ms` default).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Relations worth keeping: tables, partitioned tables, views, materialized views, foreign
/// tables (everything a FROM clause can name and RowDescription can point at).
const RELATIONS_SQL: &str = "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text, \
     CASE WHEN c.relkind IN ('v','m') THEN pg_get_viewdef(c.oid) END \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r','p','v','m','f') AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
     AND n.nspname NOT LIKE 'pg\\_toast%'";

const COLUMNS_SQL: &str = "SELECT a.attrelid, a.attnum, a.attname::text, a.atttypid \
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r','p','v','m','f') AND a.attnum <> 0 AND NOT a.attisdropped \
     AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast%' \
     ORDER BY a.attrelid, a.attnum";

/// Partitions and inheritance children with their first parent.
const INHERITS_SQL: &str = "SELECT DISTINCT ON (inhrelid) inhrelid, inhparent FROM pg_inherits \
     ORDER BY inhrelid, inhseqno";

const ROLES_SQL: &str = "SELECT oid, rolname::text FROM pg_roles";

/// Every function's schema and name (functions, aggregates, window functions, procedures):
/// what `policy.trusted_functions` and the pg_catalog rule are checked against.
const FUNCTIONS_SQL: &str = "SELECT DISTINCT n.nspname::text, p.proname::text FROM pg_proc p \
     JOIN pg_namespace n ON n.oid = p.pronamespace";

const MEMBERS_SQL: &str = "SELECT m.rolname::text, r.rolname::text FROM pg_auth_members am \
     JOIN pg_roles r ON r.oid = am.roleid JOIN pg_roles m ON m.oid = am.member";

/// Splits `host:port`; a host in brackets (`[::1]:5432`) may hold colons.
fn split_host_port(addr: &str) -> Option<(String, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return None;
    }
    Some((host.to_owned(), port))
}

/// Connects to `database` at `host_port` as the catalog login and reads a snapshot.
///
/// # Cancellation safety
/// Cancel-safe: dropping the future drops the connection; nothing is shared until it returns.
pub async fn load(
    opts: &CatalogOptions,
    host_port: &str,
    database: &str,
) -> Result<Snapshot, Error> {
    let client = connect(opts, host_port, database).await?;
    // Dropping the client ends its connection task.
    read(&client, database).await
}

/// A cheap fingerprint of the catalog rows a snapshot depends on (functions outside pg_catalog,
/// view rules, relations, columns, role membership): row counts and the newest row versions.
/// Any CREATE, ALTER, DROP or REPLACE changes it.
pub const DIGEST_SQL: &str = "SELECT concat_ws('/', \
    (SELECT count(*) || ':' || coalesce(max(xmin::text::bigint), 0) FROM pg_catalog.pg_proc \
       WHERE pronamespace <> 'pg_catalog'::regnamespace), \
    (SELECT count(*) || ':' || coalesce(max(xmin::text::bigint), 0) FROM pg_catalog.pg_rewrite), \
    (SELECT count(*) || ':' || coalesce(max(xmin::text::bigint), 0) FROM pg_catalog.pg_class), \
    (SELECT count(*) || ':' || coalesce(max(xmin::text::bigint), 0) FROM pg_catalog.pg_attribute), \
    (SELECT count(*) || ':' || coalesce(max(xmin::text::bigint), 0) FROM pg_catalog.pg_auth_members))";

/// A digest of view definitions alone: every rewrite rule's OID and row version, so a view
/// replaced, dropped or created changes it (`CREATE OR REPLACE VIEW` writes a new row version).
/// Cheap enough (one small catalog, no joins) to ask before each statement that reads a view.
pub const VIEWS_DIGEST_SQL: &str =
    "SELECT md5(coalesce(string_agg(oid::text || ':' || xmin::text, ',' \
    ORDER BY oid), '')) FROM pg_catalog.pg_rewrite";

/// Connects as the catalog login (the connection task runs until the client is dropped).
pub async fn connect(
    opts: &CatalogOptions,
    host_port: &str,
    database: &str,
) -> Result<tokio_postgres::Client, Error> {
    let (host, port) =
        split_host_port(host_port).ok_or_else(|| Error::Address(host_port.to_owned()))?;
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(&host)
        .port(port)
        .user(&opts.user)
        .dbname(database)
        .application_name("trailmask-catalog")
        .connect_timeout(CONNECT_TIMEOUT);
    if !opts.password.expose().is_empty() {
        cfg.password(opts.password.expose());
    }
    let connect_err = |source| Error::Connect {
        addr: host_port.to_owned(),
        database: database.to_owned(),
        user: opts.user.clone(),
        source,
    };
    match opts
        .upstream
        .as_ref()
        .filter(|u| !matches!(u.tls, UpstreamTls::Disable))
    {
        // The session's own way to the database (TLS per `[upstream].tls`), then the startup
        // over that channel; tokio-postgres is told not to negotiate TLS a second time.
        Some(up) => {
            let stream = crate::upstream::connect(up)
                .await
                .map_err(|source| Error::Channel {
                    database: database.to_owned(),
                    user: opts.user.clone(),
                    source,
                })?;
            cfg.ssl_mode(SslMode::Disable);
            let (client, connection) = cfg.connect_raw(stream, NoTls).await.map_err(connect_err)?;
            tokio::spawn(connection);
            Ok(client)
        }
        None => {
            let (client, connection) = cfg.connect(NoTls).await.map_err(connect_err)?;
            tokio::spawn(connection);
            Ok(client)
        }
    }
}

/// Runs one of the digest queries ([`DIGEST_SQL`], [`VIEWS_DIGEST_SQL`]: one row, one text
/// column).
pub async fn probe(
    client: &tokio_postgres::Client,
    database: &str,
    sql: &str,
) -> Result<String, Error> {
    let row = client
        .query_one(sql, &[])
        .await
        .map_err(|e| Error::query("digest", database, e))?;
    row.try_get::<_, String>(0)
        .map_err(|e| Error::query("digest", database, e))
}

async fn read(client: &tokio_postgres::Client, database: &str) -> Result<Snapshot, Error> {
    client
        .batch_execute("SET search_path = pg_catalog")
        .await
        .map_err(|e| Error::query("search_path", database, e))?;
    let digest = probe(client, database, DIGEST_SQL).await?;
    let views_digest = probe(client, database, VIEWS_DIGEST_SQL).await?;
    let rel_rows = client
        .query(RELATIONS_SQL, &[])
        .await
        .map_err(|e| Error::query("pg_class", database, e))?;
    let col_rows = client
        .query(COLUMNS_SQL, &[])
        .await
        .map_err(|e| Error::query("pg_attribute", database, e))?;
    let role_rows = client
        .query(ROLES_SQL, &[])
        .await
        .map_err(|e| Error::query("pg_roles", database, e))?;
    let member_rows = client
        .query(MEMBERS_SQL, &[])
        .await
        .map_err(|e| Error::query("pg_auth_members", database, e))?;
    let inherit_rows = client
        .query(INHERITS_SQL, &[])
        .await
        .map_err(|e| Error::query("pg_inherits", database, e))?;
    let fn_rows = client
        .query(FUNCTIONS_SQL, &[])
        .await
        .map_err(|e| Error::query("pg_proc", database, e))?;

    let mut relations = std::collections::HashMap::new();
    for row in &rel_rows {
        let (Ok(oid), Ok(schema), Ok(name), Ok(kind), Ok(def)) = (
            row.try_get::<_, u32>(0),
            row.try_get::<_, String>(1),
            row.try_get::<_, String>(2),
            row.try_get::<_, String>(3),
            row.try_get::<_, Option<String>>(4),
        ) else {
            continue;
        };
        let kind = RelKind::from_relkind(kind.chars().next().unwrap_or('?'));
        relations.insert(
            oid,
            Relation {
                oid: TableOid(oid),
                schema,
                name,
                kind,
                columns: Vec::new(),
                system_columns: Vec::new(),
                view_definition: def,
                root: None,
            },
        );
    }
    for row in &col_rows {
        let (Ok(rel), Ok(attnum), Ok(name), Ok(typ)) = (
            row.try_get::<_, u32>(0),
            row.try_get::<_, i16>(1),
            row.try_get::<_, String>(2),
            row.try_get::<_, u32>(3),
        ) else {
            continue;
        };
        if let Some(r) = relations.get_mut(&rel) {
            let col = Column {
                attnum: AttNum(attnum),
                name,
                type_oid: TypeOid(typ),
            };
            if attnum > 0 {
                r.columns.push(col);
            } else {
                r.system_columns.push(col);
            }
        }
    }
    let roles = role_rows
        .iter()
        .filter_map(|r| {
            Some((
                RoleOid(r.try_get::<_, u32>(0).ok()?),
                r.try_get::<_, String>(1).ok()?,
            ))
        })
        .collect();
    let members = member_rows
        .iter()
        .filter_map(|r| {
            Some((
                r.try_get::<_, String>(0).ok()?,
                r.try_get::<_, String>(1).ok()?,
            ))
        })
        .collect();
    let functions: Vec<(String, String)> = fn_rows
        .iter()
        .filter_map(|r| {
            Some((
                r.try_get::<_, String>(0).ok()?,
                r.try_get::<_, String>(1).ok()?,
            ))
        })
        .collect();
    let mut snapshot = Snapshot::new(database, relations.into_values().collect(), roles, members)
        .with_functions(functions)
        .with_parents(inherit_rows.iter().filter_map(|r| {
            Some((
                TableOid(r.try_get::<_, u32>(0).ok()?),
                TableOid(r.try_get::<_, u32>(1).ok()?),
            ))
        }));
    snapshot.digest = digest;
    snapshot.views_digest = views_digest;
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::split_host_port;

    #[test]
    fn host_port() {
        assert_eq!(
            split_host_port("127.0.0.1:5432"),
            Some(("127.0.0.1".into(), 5432))
        );
        assert_eq!(split_host_port("[::1]:6000"), Some(("::1".into(), 6000)));
        assert_eq!(split_host_port("db:x"), None);
        assert_eq!(split_host_port(":5432"), None);
    }
}
