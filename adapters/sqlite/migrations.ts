/**
 * Numbered migrations, applied in order at start inside one transaction each. Never edit a shipped
 * migration: add the next number. Documents are stored as JSON next to the columns that are indexed
 * or used in conditions, so the schema of a document can grow without a migration.
 */
export const MIGRATIONS: readonly { readonly id: number; readonly sql: string }[] = [
  {
    id: 1,
    sql: `
      CREATE TABLE models (
        name       TEXT PRIMARY KEY,
        doc        TEXT NOT NULL,
        next_seq   INTEGER NOT NULL DEFAULT 1
      );
      CREATE TABLE versions (
        model       TEXT NOT NULL REFERENCES models(name),
        version     TEXT NOT NULL,
        seq         INTEGER NOT NULL,
        status      TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        lease_owner TEXT,
        doc         TEXT NOT NULL,
        PRIMARY KEY (model, version),
        UNIQUE (model, seq)
      );
      CREATE INDEX versions_by_status ON versions (status, updated_at, model, version);
      CREATE TABLE aliases (
        model      TEXT NOT NULL,
        alias      TEXT NOT NULL,
        version    TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (model, alias),
        FOREIGN KEY (model, version) REFERENCES versions (model, version)
      );
      CREATE TABLE reports (
        model   TEXT NOT NULL,
        version TEXT NOT NULL,
        n       INTEGER NOT NULL,
        doc     TEXT NOT NULL,
        PRIMARY KEY (model, version, n),
        FOREIGN KEY (model, version) REFERENCES versions (model, version)
      );
    `,
  },
  {
    // Operations: a model's provider as an indexed column (providers list their models), the
    // provider records (backfilled, enabled, for every provider a model already names) and load reports.
    id: 2,
    sql: `
      ALTER TABLE models ADD COLUMN provider TEXT;
      UPDATE models SET provider = json_extract(doc, '$.provider');
      CREATE INDEX models_by_provider ON models (provider, name);
      CREATE TABLE providers (
        name     TEXT PRIMARY KEY,
        revision INTEGER NOT NULL,
        doc      TEXT NOT NULL
      );
      INSERT INTO providers (name, revision, doc)
        SELECT DISTINCT provider, 0, json_object(
          'name', provider, 'state', 'enabled', 'revision', 0,
          'createdAt', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'updatedAt', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        FROM models WHERE provider IS NOT NULL;
      CREATE TABLE load_reports (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        model    TEXT NOT NULL,
        version  TEXT NOT NULL,
        provider TEXT NOT NULL,
        at       TEXT NOT NULL,
        doc      TEXT NOT NULL
      );
      CREATE INDEX load_reports_by_version ON load_reports (model, version, at);
      CREATE INDEX load_reports_by_provider ON load_reports (provider, at);
      CREATE INDEX load_reports_by_time ON load_reports (at);
    `,
  },
  {
    // Field-load tallies (LoadTally, core/ports.ts): one bounded document per version or provider, so a
    // field report reads one row instead of the recent reports of the whole fleet.
    id: 3,
    sql: `
      CREATE TABLE load_tallies (
        scope TEXT PRIMARY KEY,
        doc   TEXT NOT NULL
      );
    `,
  },
];
