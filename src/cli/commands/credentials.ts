// Credentials the CLI sends with a pull: looked up on the user's side (their docker config, cred
// helpers) for the reference's registry only, and sent to walkd over its socket for that one pull.
import { parseReference } from "../../oci/reference.js";
import { dockerConfigCredentials } from "../../oci/registry/credentials.js";
import type { PullRequest } from "../../api/schemas.js";

export async function credentialsForPull(reference: string): Promise<PullRequest["auth"] | undefined> {
  let ref;
  try {
    ref = parseReference(reference);
  } catch {
    return undefined; // walkd reports the invalid reference with its own message
  }
  if (ref.kind !== "registry") return undefined;
  const creds = await dockerConfigCredentials()(ref.registry);
  if (!creds) return undefined;
  return {
    username: creds.username,
    ...(creds.password !== undefined ? { password: creds.password } : {}),
    ...(creds.identityToken !== undefined ? { identity_token: creds.identityToken } : {}),
  };
}
