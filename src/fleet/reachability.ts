// Why a Host could not be reached, in words a platform admin acts on: the Reachable condition's
// reason says which part failed (endpoint, credentials, TLS, network) and the message says how.
import { errorKind, isDriverError } from "../../drivers/contract/index.ts";
import { describeError } from "../runtime/log.ts";
import { CredentialsError } from "./sessions.ts";

export interface Unreachable {
  reason: string;
  message: string;
}

const byDriverReason: [RegExp, string, string][] = [
  [/^(auth|session-authentication|permission-denied|not-authenticated|invalid-login)/, "AuthenticationFailed", "the credentials were rejected"],
  [/^credentials-missing/, "CredentialsMissing", "the endpoint needs credentials"],
  [/^bad-endpoint/, "BadEndpoint", "the endpoint is not valid for this driver"],
  [/^tls/, "TLSFailed", "the TLS handshake failed"],
  [/^(connection|aborted|host)/, "Unreachable", "the endpoint did not answer"],
];

export function unreachable(err: unknown, endpoint: string): Unreachable {
  if (err instanceof CredentialsError) return { reason: "CredentialsUnavailable", message: err.message };
  const detail = describeError(err);
  if (isDriverError(err)) {
    for (const [pattern, reason, what] of byDriverReason) {
      if (err.reason && pattern.test(err.reason)) return { reason, message: `${what} (${endpoint}): ${detail}` };
    }
  }
  if (err instanceof Error && err.name === "TimeoutError") return { reason: "Unreachable", message: `no answer from ${endpoint} within the connect timeout` };
  const kind = errorKind(err);
  return kind === "terminal"
    ? { reason: "ConnectFailed", message: `connecting to ${endpoint} failed and will not succeed as configured: ${detail}` }
    : { reason: "Unreachable", message: `connecting to ${endpoint} failed: ${detail}` };
}
