// Public surface of src/store: the SQLite database and its repositories.
export { openDatabase, inTransaction, type Db } from "./db.js";
export * from "./images.js";
export * from "./jobs.js";
export * from "./machines.js";
