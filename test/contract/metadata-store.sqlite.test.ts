import { openDatabase } from '../../adapters/sqlite/database.js';
import { SqliteMetadataStore } from '../../adapters/sqlite/sqlite-metadata-store.js';
import { describeMetadataStoreContract } from './metadata-store.contract.js';
import { describeOperationsStoreContract } from './operations-store.contract.js';

describeMetadataStoreContract('sqlite (better-sqlite3, in memory)', async () => {
  const db = openDatabase(':memory:');
  return {
    store: new SqliteMetadataStore(db),
    cleanup: async () => {
      db.close();
    },
  };
});

describeOperationsStoreContract('sqlite (better-sqlite3, in memory)', async () => {
  const db = openDatabase(':memory:');
  return {
    store: new SqliteMetadataStore(db),
    cleanup: async () => {
      db.close();
    },
  };
});
