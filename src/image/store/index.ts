// Public surface of the content store.
export { BlobStore, type BlobInfo, type BlobOpener, type IngestOptions, type IngestResult, type StaleIngest } from "./blob-store.js";
