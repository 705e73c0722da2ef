// Public surface of the registry client: the ImageSource for registries, credentials for walk
// login, and the policy helpers the daemon's configuration needs.
export { RegistrySource, MANIFEST_ACCEPT, type RegistrySourceOptions } from "./source.js";
export { RegistryClient, type RegistryClientOptions } from "./client.js";
export {
  dockerConfigCredentials,
  storeCredentials,
  eraseCredentials,
  defaultDockerConfigPath,
  DOCKER_HUB_CONFIG_KEY,
  type Credentials,
  type CredentialsResolver,
  type DockerConfigOptions,
} from "./credentials.js";
export { plainHttpAllowed, isLoopbackHost, type PlainHttpPolicy } from "./endpoint.js";
export { DEFAULT_CERTS_DIRS } from "./tls.js";
export { DEFAULT_TRUSTED_TOKEN_REALMS } from "./auth.js";
export type { RetryOptions } from "./retry.js";
export type { TransportOptions } from "./transport.js";
