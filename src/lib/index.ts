// Public surface of src/lib: the shared primitives every other folder may use.
export * from "./errors.js";
export * from "./ids.js";
export * from "./atomic.js";
export * from "./bounded.js";
export * from "./exec.js";
export * from "./log.js";
export * from "./version.js";
export * from "./rwlock.js";
