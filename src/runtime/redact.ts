// Credentials that slip into text — an endpoint written as scheme://user:password@host, a token in
// a query string, an Authorization header quoted in an error — are masked before the text is
// logged, recorded in an Event or written into a condition. The API server already refuses
// endpoints with a password (src/api/host.ts); this is the second line, for whatever quotes one.

const userinfo = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi;
const queryCredential = /([?&;](?:password|passwd|pwd|token|access_token|secret|apikey|api_key|key|sig|signature|auth)=)[^&\s#"']+/gi;
const authorization = /\b(authorization|proxy-authorization)(["']?\s*[:=]\s*["']?)(basic|bearer|negotiate|digest)\s+[^\s"',}]+/gi;

/** The text with credential-bearing parts replaced by [redacted]. */
export function redactText(text: string): string {
  if (!text.includes("@") && !text.includes("=") && !/authorization/i.test(text)) return text;
  return text.replace(userinfo, "$1[redacted]@").replace(queryCredential, "$1[redacted]").replace(authorization, "$1$2$3 [redacted]");
}
