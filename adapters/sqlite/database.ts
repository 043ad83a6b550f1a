import { chmodSync, closeSync, constants, fchmodSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';

export type SqliteDatabase = Database.Database;

/** Opens (creating if needed) the registry database: WAL, foreign keys on, migrations applied. */
export function openDatabase(path: string): SqliteDatabase {
  if (path !== ':memory:') {
    mkdirSync(dirname(path), { recursive: true });
    createPrivateFile(path);
  }
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  // WAL with synchronous=NORMAL is durable across process crashes (kill -9); only an OS crash can
  // lose the last transactions, never corrupt the file.
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  // Lookups must not slow down as the registry grows: keep hot index and table pages in memory (64 MiB
  // of page cache) and read the rest through a memory map instead of a read() per page.
  db.pragma('cache_size = -65536');
  db.pragma('mmap_size = 1073741824');
  cachePreparedStatements(db);
  migrate(db);
  return db;
}

/** Metadata is the registry's own: files readable by its user only, whatever the umask. */
const DB_FILE_MODE = 0o600;

/**
 * Creates the database file 0600 before SQLite opens it (an existing one is set to 0600). SQLite gives
 * the WAL and shared-memory files it creates the mode of the database file, so they are 0600 too;
 * ones left by an earlier run are set here.
 */
function createPrivateFile(path: string): void {
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, DB_FILE_MODE);
  try {
    fchmodSync(fd, DB_FILE_MODE);
  } finally {
    closeSync(fd);
  }
  for (const suffix of ['-wal', '-shm'])
    try {
      chmodSync(`${path}${suffix}`, DB_FILE_MODE);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
}

const MAX_CACHED_STATEMENTS = 512;

/**
 * Compiles each SQL text once: compiling a statement costs more than running a point lookup with it
 * (measured: `prepare` was a tenth of the CPU time of an alias resolve under load). Sharing a statement
 * is safe because the stores only run it to completion (get, all, run), never iterate it across an
 * await. SQL texts are literals of the code, so the cache stays small; it is capped all the same.
 */
function cachePreparedStatements(db: SqliteDatabase): void {
  const compile = db.prepare.bind(db);
  const cache = new Map<string, Database.Statement>();
  db.prepare = ((sql: string) => {
    const cached = cache.get(sql);
    if (cached) return cached;
    const statement = compile(sql);
    if (cache.size < MAX_CACHED_STATEMENTS) cache.set(sql, statement);
    return statement;
  }) as SqliteDatabase['prepare'];
}

export function migrate(db: SqliteDatabase): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
  const applied = new Set(
    (db.prepare('SELECT id FROM schema_migrations').all() as { id: number }[]).map((r) => r.id),
  );
  for (const m of MIGRATIONS) {
    if (applied.has(m.id)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)').run(
        m.id,
        new Date().toISOString(),
      );
    })();
  }
}
