// Public surface of the runtime config: resolve it from an image config and overrides, encode it
// into the bytes of /walk/argv and /walk/env, and name it with a config id.
export { resolveRuntimeConfig, RESERVED_ENV_PREFIX, type Bytes, type RunOverrides } from "./runconfig/resolve.js";
export {
  encodeRuntimeConfig,
  configIdOf,
  ARGV_MAGIC,
  ENV_MAGIC,
  APP_DISK_FORMAT_VERSION,
  CONTRACT_MAX_FIELDS,
  CONTRACT_MAX_FILE_BYTES,
  type RuntimeConfig,
  type EncodedRuntimeConfig,
} from "./runconfig/encode.js";
