//! How the shared tests reach one SQL database: the store, direct
//! connections for rows as stored, and tables of a test's own.

use std::marker::PhantomData;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Executor, IntoArguments, Type};
use statestore_core::{Properties, Store};

use super::server::Server;
use crate::{Backend, SqlStore};

/// The operation timeout of the tests' stores, the restart test's aside.
pub(super) const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Plain SQL on a direct connection, beside the store under test. Every
/// sqlx connection whose database decodes integers, text and bytes has it.
#[async_trait]
pub trait Raw: sqlx::Connection + 'static {
    /// Runs a statement.
    async fn run(&mut self, sql: String) -> sqlx::Result<()>;

    /// The integer in the first column of the first row.
    async fn int(&mut self, sql: String) -> sqlx::Result<i64>;

    /// The text, or NULL, in the first column of the first row.
    async fn text(&mut self, sql: String) -> sqlx::Result<Option<String>>;

    /// The bytes in the first column of the first row.
    async fn bytes(&mut self, sql: String) -> sqlx::Result<Vec<u8>>;
}

#[async_trait]
impl<C> Raw for C
where
    C: sqlx::Connection + 'static,
    for<'c> &'c mut C: Executor<'c, Database = C::Database>,
    <C::Database as Database>::Arguments: IntoArguments<C::Database>,
    for<'r> i64: Decode<'r, C::Database> + Type<C::Database>,
    for<'r> String: Decode<'r, C::Database> + Type<C::Database>,
    for<'r> Vec<u8>: Decode<'r, C::Database> + Type<C::Database>,
    usize: ColumnIndex<<C::Database as Database>::Row>,
{
    async fn run(&mut self, sql: String) -> sqlx::Result<()> {
        let query = sqlx::query::<C::Database>(sqlx::AssertSqlSafe(sql));
        query.execute(&mut *self).await.map(drop)
    }

    async fn int(&mut self, sql: String) -> sqlx::Result<i64> {
        use sqlx::Row as _;
        let query = sqlx::query::<C::Database>(sqlx::AssertSqlSafe(sql));
        query.fetch_one(&mut *self).await?.try_get(0)
    }

    async fn text(&mut self, sql: String) -> sqlx::Result<Option<String>> {
        use sqlx::Row as _;
        let query = sqlx::query::<C::Database>(sqlx::AssertSqlSafe(sql));
        query.fetch_one(&mut *self).await?.try_get(0)
    }

    async fn bytes(&mut self, sql: String) -> sqlx::Result<Vec<u8>> {
        use sqlx::Row as _;
        let query = sqlx::query::<C::Database>(sqlx::AssertSqlSafe(sql));
        query.fetch_one(&mut *self).await?.try_get(0)
    }
}

/// How the shared tests reach one SQL database: the store on backend `B`,
/// and direct connections `C` for checking rows as stored.
pub struct Harness<B, C: Raw> {
    pub(super) label: &'static str,
    properties: Properties,
    options: C::Options,
    timeout_property: &'static str,
    quote: char,
    schema: Option<String>,
    server: Option<Server>,
    backend: PhantomData<fn() -> B>,
}

impl<B, C: Raw> Clone for Harness<B, C> {
    fn clone(&self) -> Self {
        Harness {
            label: self.label,
            properties: self.properties.clone(),
            options: self.options.clone(),
            timeout_property: self.timeout_property,
            quote: self.quote,
            schema: self.schema.clone(),
            server: self.server.clone(),
            backend: PhantomData,
        }
    }
}

impl<B: Backend, C: Raw> Harness<B, C> {
    /// A database named `label` in printed lines, reached by the store with
    /// `properties` (the connection; the tests add tables and a timeout)
    /// and directly with `options`. Names are quoted with `"`, the timeout
    /// is the property `timeout`, and there is no local server to restart.
    pub fn new(label: &'static str, properties: Properties, options: C::Options) -> Self {
        Harness {
            label,
            properties,
            options,
            timeout_property: "timeout",
            quote: '"',
            schema: None,
            server: None,
            backend: PhantomData,
        }
    }

    /// Names are quoted with `quote`.
    pub fn quote(mut self, quote: char) -> Self {
        self.quote = quote;
        self
    }

    /// The tables are in `schema` (property `schemaName`), and direct SQL
    /// names them with it.
    pub fn schema(mut self, schema: &str) -> Self {
        self.properties.insert("schemaName", schema);
        self.schema = Some(schema.to_owned());
        self
    }

    /// The store's timeout property is `name`, in seconds.
    pub fn timeout_property(mut self, name: &'static str) -> Self {
        self.timeout_property = name;
        self
    }

    /// The local server, when there is one.
    pub fn server(mut self, server: Option<Server>) -> Self {
        self.server = server;
        self
    }

    /// The local server the restart tests restart, if any.
    pub fn local_server(&self) -> Option<&Server> {
        self.server.as_ref()
    }

    /// The properties of a store on tables `state` and `meta`.
    pub fn properties(&self, state: &str, meta: &str, timeout: Duration) -> Properties {
        self.properties
            .clone()
            .with("tableName", state)
            .with("metadataTableName", meta)
            .with(self.timeout_property, timeout.as_secs().to_string())
    }

    /// `name` quoted.
    pub fn ident(&self, name: &str) -> String {
        let q = self.quote;
        format!("{q}{name}{q}")
    }

    /// Table `name` as direct SQL names it: quoted, with its schema if any.
    pub fn table(&self, name: &str) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", self.ident(schema), self.ident(name)),
            None => self.ident(name),
        }
    }

    /// How direct connections are made.
    pub fn options(&self) -> &C::Options {
        &self.options
    }

    /// A direct connection.
    pub async fn connect(&self) -> sqlx::Result<C> {
        C::connect_with(&self.options).await
    }
}

/// Drops `tables` (names as the store is given them) if they exist,
/// ignoring errors; in a thread of its own, so that it runs inside a runtime
/// or without one.
pub fn drop_tables<B: Backend, C: Raw>(h: &Harness<B, C>, tables: &[&str]) {
    let names: Vec<String> = tables.iter().map(|t| h.table(t)).collect();
    let sql = format!("DROP TABLE IF EXISTS {}", names.join(", "));
    let h = h.clone();
    let _ = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            if let Ok(mut conn) = h.connect().await {
                let _ = conn.run(sql).await;
            }
        });
    })
    .join();
}

/// A state table and a metadata table of one test, dropped when this goes
/// out of scope (also when the test panics).
pub struct Tables<B: Backend, C: Raw> {
    /// The database.
    pub harness: Harness<B, C>,
    /// The state table's name.
    pub state: String,
    /// The metadata table's name.
    pub meta: String,
}

impl<B: Backend, C: Raw> Tables<B, C> {
    /// The tables of test `test` in this process.
    pub fn new(h: &Harness<B, C>, test: &str) -> Self {
        let base = format!("it{}_{test}", std::process::id());
        Tables {
            harness: h.clone(),
            state: format!("{base}_state"),
            meta: format!("{base}_meta"),
        }
    }

    /// The properties of a store on these tables.
    pub fn props(&self) -> Properties {
        self.harness
            .properties(&self.state, &self.meta, TEST_TIMEOUT)
    }

    /// An initialised store with `props`.
    pub async fn open(&self, props: Properties) -> SqlStore<B> {
        let mut s = SqlStore::new();
        s.init(&props).await.expect("init");
        s
    }

    /// The state table as direct SQL names it.
    pub fn table(&self) -> String {
        self.harness.table(&self.state)
    }

    /// The key column, quoted.
    pub fn key(&self) -> String {
        self.harness.ident("key")
    }

    /// A direct connection.
    pub async fn raw(&self) -> C {
        self.harness.connect().await.expect("raw connection")
    }

    /// The integer `sql` selects.
    pub async fn int(&self, sql: String) -> i64 {
        self.raw().await.int(sql).await.expect("integer")
    }

    /// The rows of the state table matching `filter`.
    pub async fn count(&self, filter: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {} WHERE {filter}", self.table());
        self.raw().await.int(sql).await.expect("count")
    }

    /// Whether the state table exists.
    pub async fn exists(&self) -> bool {
        let sql = format!("SELECT COUNT(*) FROM {} WHERE FALSE", self.table());
        self.raw().await.int(sql).await.is_ok()
    }
}

impl<B: Backend, C: Raw> Drop for Tables<B, C> {
    fn drop(&mut self) {
        drop_tables(&self.harness, &[&self.state, &self.meta]);
    }
}
